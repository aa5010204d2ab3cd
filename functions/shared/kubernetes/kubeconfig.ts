/**
 * Reads a kubeconfig (YAML or JSON) into what a request to the cluster needs: the server, how to
 * trust it, and how to prove who we are.
 *
 * Written here rather than taken from @kubernetes/client-node's KubeConfig: that class alone
 * brings 1.3 MB into a bundle (it imports undici, proxy and cloud-auth plugins), a third of the
 * old node-loss bundle, for the handful of fields read below (see BENCHMARKS.md).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { load } from 'js-yaml';

/** How the function reaches one cluster's API. */
export interface ClusterEndpoint {
  /** https://host:port (http:// only when the cluster says so, as a local proxy does). */
  readonly server: string;
  /** The certificate authority the server's certificate must chain to (PEM); the system's if absent. */
  readonly certificateAuthority?: string;
  readonly insecureSkipTlsVerify?: boolean;
  /** A client certificate and its key (PEM). */
  readonly clientCertificate?: string;
  readonly clientKey?: string;
  /**
   * A bearer token, read again for every request (an exec plugin's token expires; an EKS token
   * is minted again when it nears expiry, also within a long invocation).
   */
  readonly token?: () => string | Promise<string>;
  /**
   * Called when the API answered 401 Unauthorized: drops what may be stale (a cached token, a
   * kubeconfig secret that was rotated). The request is then tried once more.
   */
  readonly onUnauthorized?: () => void;
}

type Entry = Record<string, unknown>;

const named = (list: unknown, name: unknown): Entry | undefined =>
  (Array.isArray(list) ? (list as Entry[]) : []).find((entry) => entry?.name === name);

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

/** A kubeconfig that cannot be used, with what is wrong in it; the caller names the source. */
export class KubeconfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeconfigError';
  }
}

/** Inline `<field>-data` (base64) or the file `<field>` names, relative to the kubeconfig. */
function pem(section: Entry, field: string, baseDir: string | undefined): string | undefined {
  const data = text(section[`${field}-data`]);
  if (data) return Buffer.from(data, 'base64').toString('utf8');
  const file = text(section[field]);
  if (!file) return undefined;
  return readFileSync(isAbsolute(file) || !baseDir ? file : join(baseDir, file), 'utf8');
}

/**
 * A token from an exec credential plugin (`aws eks get-token`, ...), run again when the token it
 * gave has expired; for the command line, where such plugins are installed (Lambda has none).
 */
function execToken(exec: Entry): () => string {
  const command = text(exec.command);
  if (!command) throw new KubeconfigError('its user has an exec plugin without a command');
  const args = Array.isArray(exec.args) ? exec.args.map(String) : [];
  const env = Object.fromEntries(
    (Array.isArray(exec.env) ? (exec.env as Entry[]) : []).map((e) => [
      String(e.name),
      String(e.value),
    ]),
  );
  let current: { token: string; expiresAt: number } | undefined;
  return () => {
    if (current && current.expiresAt > Date.now() + 10_000) return current.token;
    const output = execFileSync(command, args, {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const status = (JSON.parse(output) as { status?: Entry }).status ?? {};
    const token = text(status.token);
    if (!token) throw new KubeconfigError(`exec plugin ${command} gave no token`);
    const expiry = text(status.expirationTimestamp);
    current = { token, expiresAt: expiry ? Date.parse(expiry) : Number.POSITIVE_INFINITY };
    return token;
  };
}

/** The current context's cluster and user; a file's relative paths are read beside it. */
export function parseKubeconfig(content: string, baseDir?: string): ClusterEndpoint {
  let config: Entry;
  try {
    config = (load(content) ?? {}) as Entry;
  } catch (error) {
    throw new KubeconfigError(`it is neither YAML nor JSON (${(error as Error).message})`);
  }
  if (typeof config !== 'object') throw new KubeconfigError('it is not a kubeconfig object');
  const context = named(config.contexts, config['current-context'])?.context as Entry | undefined;
  const cluster = named(config.clusters, context?.cluster)?.cluster as Entry | undefined;
  const server = text(cluster?.server);
  if (!context || !cluster || !server) {
    throw new KubeconfigError('it has no current context with a cluster and server');
  }
  const user = (named(config.users, context.user)?.user ?? {}) as Entry;
  if (user['auth-provider'] || user.username) {
    throw new KubeconfigError(
      'its user authenticates with an auth-provider or a password, which the remediator does not support; use a token, a client certificate or an exec plugin',
    );
  }
  const token = tokenOf(user);
  const certificateAuthority = pem(cluster, 'certificate-authority', baseDir);
  const clientCertificate = pem(user, 'client-certificate', baseDir);
  const clientKey = pem(user, 'client-key', baseDir);
  return {
    server: server.replace(/\/+$/, ''),
    ...(certificateAuthority ? { certificateAuthority } : {}),
    ...(cluster['insecure-skip-tls-verify'] === true ? { insecureSkipTlsVerify: true } : {}),
    ...(clientCertificate ? { clientCertificate } : {}),
    ...(clientKey ? { clientKey } : {}),
    ...(token ? { token } : {}),
  };
}

/** How the user's token is got: given, read from its file each time, or from an exec plugin. */
function tokenOf(user: Entry): ClusterEndpoint['token'] {
  const token = text(user.token);
  if (token) return () => token;
  const tokenFile = text(user.tokenFile);
  if (tokenFile) return () => readFileSync(tokenFile, 'utf8').trim();
  const exec = user.exec as Entry | undefined;
  return exec ? execToken(exec) : undefined;
}

/** A kubeconfig file, with paths in it relative to the file. */
export function readKubeconfigFile(path: string): ClusterEndpoint {
  return parseKubeconfig(readFileSync(path, 'utf8'), dirname(path));
}
