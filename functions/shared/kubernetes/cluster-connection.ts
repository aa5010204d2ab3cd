import { readFileSync } from 'node:fs';
import { DescribeClusterCommand, type EKSClient } from '@aws-sdk/client-eks';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KubeConfig } from '@kubernetes/client-node';
import type { ClusterAccess } from '../config.ts';
import { ClusterAccessError, ConfigurationError, messageOf } from '../errors.ts';
import { type AwsCredentials, type EksToken, eksBearerToken } from './eks-token.ts';

/** The AWS clients cluster access may need; only the one for the configured access is used. */
export interface ClusterAccessClients {
  readonly eks: () => EKSClient;
  readonly secretsManager: () => SecretsManagerClient;
  readonly region: () => Promise<string>;
  readonly credentials: () => Promise<AwsCredentials>;
}

/** Gives a KubeConfig for the cluster, read once per cold start and renewed only when needed. */
export interface ClusterConnection {
  kubeConfig(): Promise<KubeConfig>;
}

function fromString(content: string, source: string): KubeConfig {
  const config = new KubeConfig();
  try {
    config.loadFromString(content);
  } catch (error) {
    throw new ConfigurationError(
      `the kubeconfig in ${source} cannot be read: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
  if (!config.getCurrentCluster()) {
    throw new ConfigurationError(
      `the kubeconfig in ${source} has no current context with a cluster`,
    );
  }
  return config;
}

function kubeconfigFile(path: string): ClusterConnection {
  let cached: KubeConfig | undefined;
  return {
    async kubeConfig() {
      if (cached) return cached;
      let content: string;
      try {
        content = readFileSync(path, 'utf8');
      } catch (error) {
        throw new ConfigurationError(`KUBECONFIG=${path} cannot be read: ${messageOf(error)}`, {
          cause: error,
        });
      }
      cached = fromString(content, `KUBECONFIG=${path}`);
      return cached;
    },
  };
}

function kubeconfigSecret(secretArn: string, clients: ClusterAccessClients): ClusterConnection {
  let cached: Promise<KubeConfig> | undefined;
  const load = async () => {
    try {
      const secret = await clients
        .secretsManager()
        .send(new GetSecretValueCommand({ SecretId: secretArn }));
      if (!secret.SecretString) {
        throw new ConfigurationError(
          `secret ${secretArn} holds no text; store the kubeconfig as text`,
        );
      }
      return fromString(secret.SecretString, `secret ${secretArn}`);
    } catch (error) {
      cached = undefined; // a failed read is tried again on the next invocation
      if (error instanceof ConfigurationError) throw error;
      throw new ClusterAccessError(
        `reading the kubeconfig from secret ${secretArn}: ${messageOf(error)}`,
        { cause: error },
      );
    }
  };
  return {
    kubeConfig() {
      cached ??= load();
      return cached;
    },
  };
}

function eksCluster(eksClusterName: string, clients: ClusterAccessClients): ClusterConnection {
  let endpoint: Promise<{ server: string; caData: string }> | undefined;
  let token: EksToken | undefined;
  let config: KubeConfig | undefined;
  const describe = async () => {
    try {
      const { cluster } = await clients
        .eks()
        .send(new DescribeClusterCommand({ name: eksClusterName }));
      if (!cluster?.endpoint || !cluster.certificateAuthority?.data) {
        throw new Error('DescribeCluster returned no endpoint or certificate authority');
      }
      return { server: cluster.endpoint, caData: cluster.certificateAuthority.data };
    } catch (error) {
      endpoint = undefined;
      throw new ClusterAccessError(
        `describing EKS cluster ${eksClusterName}: ${messageOf(error)}`,
        { cause: error },
      );
    }
  };
  return {
    async kubeConfig() {
      endpoint ??= describe();
      const { server, caData } = await endpoint;
      // Renew the token a minute before it would expire; a Lambda container outlives it.
      if (!config || !token || token.expiresAt.getTime() - Date.now() < 60_000) {
        token = await eksBearerToken({
          clusterName: eksClusterName,
          region: await clients.region(),
          credentials: clients.credentials,
        });
        config = new KubeConfig();
        config.loadFromOptions({
          clusters: [{ name: eksClusterName, server, caData, skipTLSVerify: false }],
          users: [{ name: 'ebs-volume-remediator', token: token.token }],
          contexts: [
            { name: eksClusterName, cluster: eksClusterName, user: 'ebs-volume-remediator' },
          ],
          currentContext: eksClusterName,
        });
      }
      return config;
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
