/**
 * The functions' dependencies wired to the real parts at `awsEndpoint`, as the Lambda runtime
 * wires them to AWS: the same ports and the same cluster-connection code. No vitest here: the
 * benchmarks use it too.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EKSClient } from '@aws-sdk/client-eks';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createAutoScalingPort } from '#functions/shared/aws/autoscaling-port.ts';
import { awsClientSettings, ec2ClientSettings } from '#functions/shared/aws/client-settings.ts';
import { createEc2Port } from '#functions/shared/aws/ec2-port.ts';
import { createFenceEc2Port } from '#functions/shared/aws/fence-ec2-port.ts';
import { publishResultEvents } from '#functions/shared/aws/result-events.ts';
import type { Config } from '#functions/shared/config.ts';
import type { HandlerDeps } from '#functions/shared/handle-input.ts';
import { clusterConnection } from '#functions/shared/kubernetes/cluster-connection.ts';
import { createKubernetesPort } from '#functions/shared/kubernetes/kubernetes-port.ts';

import { awsClientConfigFor, testRegion } from './endpoints.ts';

export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

/** The handler's dependencies, with its log lines kept for assertions. */
export function wireHandler(
  config: Config,
  awsEndpoint: string,
  ec2: EC2Client = new EC2Client({ ...awsClientConfigFor(awsEndpoint), ...ec2ClientSettings }),
): { deps: HandlerDeps; logs: LogLine[] } {
  const aws = awsClientConfigFor(awsEndpoint);
  const logs: LogLine[] = [];
  const log =
    (level: LogLine['level']) =>
    (message: string, ...extra: unknown[]) => {
      logs.push({ level, message, fields: Object.assign({}, ...(extra as object[])) });
    };
  const bus = config.resultEventBus;
  const connection = clusterConnection(config.clusterAccess, {
    eks: async () => new EKSClient(aws),
    secretsManager: async () => new SecretsManagerClient(aws),
    region: async () => testRegion,
    credentials: async () => aws.credentials,
  });
  const deps: HandlerDeps = {
    config,
    ec2: createEc2Port(ec2),
    fence: createFenceEc2Port(ec2),
    // In tests this goes through the stand-in, which answers the two lifecycle actions moto lacks.
    autoScaling: createAutoScalingPort(new AutoScalingClient({ ...aws, ...awsClientSettings })),
    // The same connection code the functions use, from the configured KUBECONFIG.
    kubernetes: async () => createKubernetesPort(await connection.endpoint()),
    ...(bus
      ? {
          publishResults: (events) => publishResultEvents(new EventBridgeClient(aws), bus, events),
        }
      : {}),
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    metrics: new Metrics({ namespace: 'EbsVolumeRemediatorTest', serviceName: 'test' }),
  };
  return { deps, logs };
}
