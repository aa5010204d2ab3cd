import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { EKSClient } from '@aws-sdk/client-eks';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { awsFailure } from '../aws/aws-failure.ts';
import type { ClusterAccess } from '../config.ts';
import { ClusterAccessError, ConfigurationError, messageOf } from '../util/errors.ts';
import { cutOffOptions } from '../util/invocation-cut-off.ts';
import { type AwsCredentials, type EksToken, eksBearerToken } from './eks-token.ts';
import type { ClusterEndpoint } from './kubeconfig.ts';

// Each kind of access loads what only it needs on first use (the EKS client, the Secrets
// Manager client, the kubeconfig parser and its YAML library): a cold start compiles none of it,
// and a function set up for one kind never loads the others'.

/** The AWS clients cluster access may need; only the one for the configured access is used. */
export interface ClusterAccessClients {
  readonly eks: () => Promise<EKSClient>;
  readonly secretsManager: () => Promise<SecretsManagerClient>;
  readonly region: () => Promise<string>;
  readonly credentials: () => Promise<AwsCredentials>;
}

/**
 * Gives the cluster's endpoint, read once per cold start and renewed only when needed (the same
 * object until then, so its connections are kept).
 */
export interface ClusterConnection {
  endpoint(): Promise<ClusterEndpoint>;
}

async function fromString(
  content: string,
  source: string,
  baseDir?: string,
): Promise<ClusterEndpoint> {
  const { parseKubeconfig } = await import('./kubeconfig.ts');
  try {
    return parseKubeconfig(content, baseDir);
  } catch (error) {
    throw new ConfigurationError(
      `the kubeconfig in ${source} cannot be used: ${messageOf(error)}`,
      { cause: error },
    );
  }
}

function kubeconfigFile(path: string): ClusterConnection {
  let cached: ClusterEndpoint | undefined;
  return {
    async endpoint() {
      if (cached) return cached;
      let content: string;
      try {
        content = readFileSync(path, 'utf8');
      } catch (error) {
        throw new ConfigurationError(`KUBECONFIG=${path} cannot be read: ${messageOf(error)}`, {
          cause: error,
        });
      }
      cached = await fromString(content, `KUBECONFIG=${path}`, dirname(path));
      return cached;
    },
  };
}

function kubeconfigSecret(secretArn: string, clients: ClusterAccessClients): ClusterConnection {
  let cached: Promise<ClusterEndpoint> | undefined;
  const load = async () => {
    try {
      const [client, { GetSecretValueCommand }] = await Promise.all([
        clients.secretsManager(),
        import('@aws-sdk/client-secrets-manager'),
      ]);
      const secret = await client.send(
        new GetSecretValueCommand({ SecretId: secretArn }),
        cutOffOptions(),
      );
      if (!secret.SecretString) {
        throw new ConfigurationError(
          `secret ${secretArn} holds no text; store the kubeconfig as text`,
        );
      }
      return await fromString(secret.SecretString, `secret ${secretArn}`);
    } catch (error) {
      cached = undefined; // a failed read is tried again on the next invocation
      if (error instanceof ConfigurationError) throw error;
      throw new ClusterAccessError(
        `reading the kubeconfig from secret ${secretArn}: ${awsFailure(error, 'Secrets Manager')}`,
        { cause: error },
      );
    }
  };
  const latest = () => {
    cached ??= load();
    return cached;
  };
  // One endpoint object per kubeconfig read (the same until the secret is read again, so its
  // connections are kept). A 401 means the secret may have been rotated: it is read again, and
  // its token used from then on; a new server or certificate takes effect with the next
  // invocation's endpoint.
  let wrapped: { readonly from: ClusterEndpoint; readonly endpoint: ClusterEndpoint } | undefined;
  return {
    async endpoint() {
      const loaded = await latest();
      if (wrapped?.from !== loaded) {
        const endpoint: ClusterEndpoint = {
          ...loaded,
          ...(loaded.token ? { token: async () => (await latest()).token?.() ?? '' } : {}),
          onUnauthorized: () => {
            cached = undefined;
          },
        };
        wrapped = { from: loaded, endpoint };
      }
      return wrapped.endpoint;
    },
  };
}

function eksCluster(eksClusterName: string, clients: ClusterAccessClients): ClusterConnection {
  let endpoint: Promise<{ server: string; caData: string }> | undefined;
  let token: EksToken | undefined;
  let current: ClusterEndpoint | undefined;
  const describe = async () => {
    try {
      const [client, { DescribeClusterCommand }] = await Promise.all([
        clients.eks(),
        import('@aws-sdk/client-eks'),
      ]);
      const { cluster } = await client.send(
        new DescribeClusterCommand({ name: eksClusterName }),
        cutOffOptions(),
      );
      if (!cluster?.endpoint || !cluster.certificateAuthority?.data) {
        throw new Error('DescribeCluster returned no endpoint or certificate authority');
      }
      return { server: cluster.endpoint, caData: cluster.certificateAuthority.data };
    } catch (error) {
      endpoint = undefined;
      throw new ClusterAccessError(
        `describing EKS cluster ${eksClusterName}: ${awsFailure(error, 'EKS')}`,
        { cause: error },
      );
    }
  };
  const renewedToken = async () => {
    // Renewed a minute before it would expire: a Lambda container, and a long sweep or
    // lifecycle wait, outlive it.
    if (!token || token.expiresAt.getTime() - Date.now() < 60_000) {
      token = await eksBearerToken({
        clusterName: eksClusterName,
        region: await clients.region(),
        credentials: clients.credentials,
      });
    }
    return token.token;
  };
  return {
    async endpoint() {
      endpoint ??= describe();
      const { server, caData } = await endpoint;
      await renewedToken();
      current ??= {
        server,
        certificateAuthority: Buffer.from(caData, 'base64').toString('utf8'),
        token: renewedToken,
        onUnauthorized: () => {
          token = undefined;
        },
      };
      return current;
    },
  };
}

/** The connection for the configured cluster access. */
export function clusterConnection(
  access: ClusterAccess,
  clients: ClusterAccessClients,
): ClusterConnection {
  switch (access.kind) {
    case 'kubeconfig-file':
      return kubeconfigFile(access.path);
    case 'kubeconfig-secret':
      return kubeconfigSecret(access.secretArn, clients);
    case 'eks':
      return eksCluster(access.eksClusterName, clients);
  }
}
