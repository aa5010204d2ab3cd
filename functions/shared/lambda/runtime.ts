/**
 * The clients and ports of one cold start, built once from the configuration and reused by
 * every invocation of the container.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { awsClientSettings, ec2ClientSettings } from '../aws/client-settings.ts';
import { createEc2Port } from '../aws/ec2-port.ts';
import { createFenceEc2Port } from '../aws/fence-ec2-port.ts';
import { publishResultEvents, type ResultEvent } from '../aws/result-events.ts';
import type { Config } from '../config.ts';
import type { FencePort } from '../fencing/fence-port.ts';
import { clusterConnection } from '../kubernetes/cluster-connection.ts';
import type { ClusterEndpoint } from '../kubernetes/kubeconfig.ts';
import { createKubernetesPort } from '../kubernetes/kubernetes-port.ts';
import type { AutoScalingPort } from '../lifecycle/await-drain.ts';
import type { Ec2Port, KubernetesPort } from '../remediation/ports.ts';
import { traced } from './observability.ts';

export interface Runtime {
  readonly ec2: Ec2Port;
  readonly autoScaling: AutoScalingPort;
  /** The fence's EC2 calls: only the fence function makes them (its IAM grants them). */
  readonly fence: FencePort;
  readonly kubernetes: () => Promise<KubernetesPort>;
  readonly publishResults?: (events: readonly ResultEvent[]) => Promise<number>;
  /** The name Kubernetes Events are written under: the function's own. */
  readonly reportingInstance?: string;
}

function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= make();
    return value;
  };
}

/** Region, endpoint and credentials come from the SDK's standard environment variables. */
export function createRuntime(config: Config): Runtime {
  const ec2Client = traced(new EC2Client(ec2ClientSettings));
  const connection = clusterConnection(config.clusterAccess, {
    // Loaded on first use, and only for the configured cluster access.
    eks: once(async () => {
      const { EKSClient } = await import('@aws-sdk/client-eks');
      return traced(new EKSClient(awsClientSettings));
    }),
    secretsManager: once(async () => {
      const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
      return traced(new SecretsManagerClient(awsClientSettings));
    }),
    region: () => ec2Client.config.region(),
    credentials: () => ec2Client.config.credentials(),
  });
  let current: { endpoint: ClusterEndpoint; port: KubernetesPort } | undefined;
  const bus = config.resultEventBus;
  const eventBridge = once(() => traced(new EventBridgeClient(awsClientSettings)));
  const autoScaling = once(async () => {
    const [{ AutoScalingClient }, { createAutoScalingPort }] = await Promise.all([
      import('@aws-sdk/client-auto-scaling'),
      import('../aws/autoscaling-port.ts'),
    ]);
    return createAutoScalingPort(traced(new AutoScalingClient(awsClientSettings)));
  });
  return {
    ec2: createEc2Port(ec2Client),
    fence: createFenceEc2Port(ec2Client),
    // Loaded and built on first use: only the lifecycle function calls Auto Scaling.
    autoScaling: {
      heartbeatTimeoutSeconds: async (action) =>
        (await autoScaling()).heartbeatTimeoutSeconds(action),
      recordHeartbeat: async (action) => (await autoScaling()).recordHeartbeat(action),
      complete: async (action, result) => (await autoScaling()).complete(action, result),
    },
    async kubernetes() {
      const endpoint = await connection.endpoint();
      if (current?.endpoint !== endpoint) {
        current = { endpoint, port: createKubernetesPort(endpoint) };
      }
      return current.port;
    },
    ...(bus ? { publishResults: (events) => publishResultEvents(eventBridge(), bus, events) } : {}),
    // Lambda names the function in its environment.
    ...(process.env.AWS_LAMBDA_FUNCTION_NAME
      ? { reportingInstance: process.env.AWS_LAMBDA_FUNCTION_NAME }
      : {}),
  };
}
