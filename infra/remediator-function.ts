/** The Lambda functions of the remediator: one shape, their settings from the settings contract. */
import { join } from 'node:path';
import {
  Duration,
  aws_lambda_destinations as destinations,
  aws_ec2 as ec2,
  type aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
  type aws_sqs as sqs,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { metricsNamespace, serviceName } from '../functions/shared/contract/metric-names.ts';
import { settingDefaults, settingEnv } from '../functions/shared/contract/settings.ts';
import { onStoppedSetting } from './choices.ts';
import type { ResolvedProps } from './cluster.ts';

const env = settingEnv;
const defaults = settingDefaults;

/** The settings every function of the construct gets, as environment variables. */
export function sharedEnvironment(
  props: ResolvedProps,
  eksClusterName: string | undefined,
): Record<string, string> {
  return {
    [env.clusterName]: props.clusterName,
    ...(eksClusterName ? { [env.eksClusterName]: eksClusterName } : {}),
    ...(props.kubeconfigSecret
      ? { [env.kubeconfigSecretArn]: props.kubeconfigSecret.secretArn }
      : {}),
    [env.dryRun]: String(props.dryRun ?? defaults.dryRun),
    [env.onStopped]: props.onStopped ? onStoppedSetting(props.onStopped) : defaults.onStopped,
    [env.onStoppedHibernationCapable]: props.onStoppedHibernationCapable
      ? onStoppedSetting(props.onStoppedHibernationCapable)
      : defaults.onStoppedHibernationCapable,
    [env.outOfServiceTaint]: String(props.outOfServiceTaint ?? defaults.outOfServiceTaint),
    [env.deleteTerminatedNodes]: String(
      props.deleteTerminatedNodes ?? defaults.deleteTerminatedNodes,
    ),
    [env.maxActionsPerInvocation]: String(
      props.maxActionsPerInvocation ?? defaults.maxActionsPerInvocation,
    ),
    [env.maxDeadNodePercent]: String(props.maxDeadNodePercent ?? defaults.maxDeadNodePercent),
    ...(props.resultEventBus ? { [env.resultEventBus]: props.resultEventBus.eventBusArn } : {}),
    ...(props.sweepNodeSelector ? { [env.nodeSelector]: props.sweepNodeSelector } : {}),
    POWERTOOLS_SERVICE_NAME: serviceName,
    POWERTOOLS_METRICS_NAMESPACE: metricsNamespace,
    POWERTOOLS_TRACE_ENABLED: String(props.tracing === true),
  };
}

/** What each function has of its own. */
export interface RemediatorFunctionProps {
  /** The bundle's folder under the bundle directory: node-loss, sweep or lifecycle. */
  readonly bundle: string;
  readonly description: string;
  readonly timeout: Duration;
  /** Settings beyond the shared ones. */
  readonly environment?: Record<string, string>;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default none */
  readonly reservedConcurrentExecutions?: number | undefined;
}

/** What all the functions share: the role, the bundles, the settings, the network, the dead-letter queue. */
export interface SharedFunctionProps {
  readonly props: ResolvedProps;
  readonly bundleDir: string;
  readonly role: iam.IRole;
  readonly environment: Record<string, string>;
  readonly deadLetterQueue: sqs.IQueue;
}

export function createRemediatorFunction(
  scope: Construct,
  id: string,
  own: RemediatorFunctionProps,
  shared: SharedFunctionProps,
): lambda.Function {
  const { props } = shared;
  return new lambda.Function(scope, id, {
    ...(own.reservedConcurrentExecutions === undefined
      ? {}
      : { reservedConcurrentExecutions: own.reservedConcurrentExecutions }),
    description: own.description,
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    handler: 'index.handler',
    code: lambda.Code.fromAsset(join(shared.bundleDir, own.bundle), { exclude: ['*.map'] }),
    role: shared.role,
    memorySize: own.memorySize ?? 512,
    timeout: own.timeout,
    environment: { ...shared.environment, ...own.environment },
    logGroup: new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    }),
    tracing: props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
    ...(props.vpc
      ? {
          vpc: props.vpc,
          vpcSubnets: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
          ...(props.securityGroups ? { securityGroups: props.securityGroups } : {}),
        }
      : {}),
    retryAttempts: 2,
    // An event older than this is left to the next sweep; by then the cluster has moved on.
    maxEventAge: Duration.hours(1),
    onFailure: new destinations.SqsDestination(shared.deadLetterQueue),
  });
}
