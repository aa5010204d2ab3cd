import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, ensureDir, logDir, repoRoot } from './paths.ts';
import {
  run,
  type ServerProcess,
  startProcess,
  TestEnvironmentError,
  waitForLine,
} from './processes.ts';

const sourceDir = join(repoRoot, 'test', 'support', 'kube-apiserver');
const sourceFiles = ['main.go', 'go.mod', 'go.sum'];

/** What the running kube-apiserver tells the tests. */
export interface KubeApiServerInfo {
  readonly server: string;
  /** Kubeconfig files: `admin` (system:masters) and `remediator` (the remediator's RBAC identity). */
  readonly kubeconfigs: { readonly admin: string; readonly remediator: string };
}

export interface RunningKubeApiServer extends KubeApiServerInfo {
  stop(): Promise<void>;
}

async function goVersion(): Promise<string> {
  try {
    return (await run('go', ['version'])).trim();
  } catch (error) {
    throw new TestEnvironmentError(
      'Go is needed to build the kube-apiserver the integration tests run against, and `go` was ' +
        'not found on PATH. Install Go 1.25 or newer (https://go.dev/dl/) and run the tests again.',
      { cause: error },
    );
  }
}

/**
 * Builds the test kube-apiserver unless a binary built from the same sources and Go version is
 * cached, and returns its path. The first build compiles all of kube-apiserver and etcd:
 * 10 to 20 minutes on 2 cores. Later builds of changed sources reuse Go's build cache.
 */
export async function ensureKubeApiServerBuilt(): Promise<string> {
  const version = await goVersion();
  const hash = createHash('sha256').update(version);
  for (const file of sourceFiles) hash.update(readFileSync(join(sourceDir, file)));
  const key = hash.digest('hex').slice(0, 16);
  const binary = join(cacheDir, 'kube-apiserver', key, 'kube-apiserver-for-tests');
  if (existsSync(binary)) return binary;

  ensureDir(join(cacheDir, 'kube-apiserver', key));
  const partial = `${binary}.partial-${process.pid}`;
  const started = Date.now();
  process.stderr.write(
    `building the test kube-apiserver from Go modules (${version}); the first build takes ` +
      '10 to 20 minutes on 2 cores, later ones reuse the cache...\n',
  );
  try {
    const output = await run('go', ['build', '-o', partial, '.'], {
      cwd: sourceDir,
      env: { ...process.env, CGO_ENABLED: '0' },
    });
    writeFileSync(join(ensureDir(logDir), 'kube-apiserver-build.log'), output);
  } catch (error) {
    throw new TestEnvironmentError(
      'building the test kube-apiserver failed. It needs Go 1.25+ and the Go module proxy ' +
        '(GOPROXY, default https://proxy.golang.org) to download k8s.io/kubernetes and etcd; ' +
        'check both, then run the tests again.',
      { cause: error },
    );
  }
  renameSync(partial, binary);
  process.stderr.write(
    `built the test kube-apiserver in ${Math.round((Date.now() - started) / 1000)}s\n`,
  );
  return binary;
}

/** Starts one kube-apiserver (with embedded etcd) and waits until it is ready. */
export async function startKubeApiServer(binary: string): Promise<RunningKubeApiServer> {
  const dataDir = mkdtempSync(join(ensureDir(join(cacheDir, 'run')), 'kube-apiserver-'));
  const server: ServerProcess = startProcess({
    name: 'kube-apiserver',
    command: binary,
    args: ['-dir', dataDir],
    logFile: join(ensureDir(logDir), 'kube-apiserver.log'),
  });
  const stop = async () => {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const info = await waitForLine(
      server,
      'kube-apiserver',
      (line) => {
        if (!line.startsWith('{')) return undefined;
        const parsed = JSON.parse(line) as { ready?: boolean } & KubeApiServerInfo;
        return parsed.ready ? parsed : undefined;
      },
      180_000,
    );
    return { server: info.server, kubeconfigs: info.kubeconfigs, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
