/**
 * The ready CDK app: `npx cdk deploy -c clusterName=<cluster>` (see the README for every
 * setting). It synthesizes offline: no lookups, no account needed until deploy.
 */
import { join } from 'node:path';
import {
  App,
  CfnOutput,
  aws_cloudwatch as cloudwatch,
  Duration,
  aws_events as events,
  aws_kms as kms,
  Stack,
  aws_secretsmanager as secretsmanager,
  Validations,
} from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { fenceActionNamed, type OnStopped, onStoppedNamed } from './choices.ts';
import { EbsVolumeRemediator, type EbsVolumeRemediatorProps } from './ebs-volume-remediator.ts';

/** Reads the construct's settings from CDK context (`-c name=value` or cdk.json). */
export function propsFromContext(app: App): EbsVolumeRemediatorProps {
  const text = (name: string): string | undefined => {
    const value = app.node.tryGetContext(name);
    return value === undefined || value === '' ? undefined : String(value);
  };
  const flag = (name: string): boolean | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false')
      throw new Error(`-c ${name} must be true or false, not "${value}"`);
    return value === 'true';
  };
  const remediateOrIgnore = (name: string): OnStopped | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    const choice = onStoppedNamed(value);
    if (!choice) throw new Error(`-c ${name} must be remediate or ignore, not "${value}"`);
    return choice;
  };
  const clusterName = text('clusterName');
  if (!clusterName) {
    throw new Error(
      'tell the app which cluster to look after: npx cdk deploy -c clusterName=<cluster> ' +
        '(EKS; add -c kubeconfigSecretArn=<arn> for other clusters). See README, "Deploy".',
    );
  }
  const onStopped = remediateOrIgnore('onStopped');
  const onStoppedHibernationCapable = remediateOrIgnore('onStoppedHibernationCapable');
  return {
    clusterName,
    ...optional({
      eksClusterName: text('eksClusterName'),
      dryRun: flag('dryRun'),
      onStopped,
      onStoppedHibernationCapable,
      outOfServiceTaint: flag('outOfServiceTaint'),
      deleteTerminatedNodes: flag('deleteTerminatedNodes'),
      createAccessEntry: flag('createAccessEntry'),
      tracing: flag('tracing'),
      alarmEmail: text('alarmEmail'),
      maxActionsPerInvocation:
        text('maxActionsPerInvocation') === undefined
          ? undefined
          : Number(text('maxActionsPerInvocation')),
      maxDeadNodePercent:
        text('maxDeadNodePercent') === undefined ? undefined : Number(text('maxDeadNodePercent')),
    }),
  };
}

function optional<T extends object>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as never;
}

/**
 * The sweep's schedule (`-c sweepSchedule="rate(15 minutes)"`, or `none`) and alarms, and the
 * lifecycle hook (`-c lifecycleHookName=... -c lifecycleGroupNames=a,b`).
 */
function sweepFromContext(app: App, stack: Stack): Partial<EbsVolumeRemediatorProps> {
  const schedule = app.node.tryGetContext('sweepSchedule');
  const alarmArns = String(app.node.tryGetContext('sweepAlarmArns') ?? '')
    .split(',')
    .map((arn) => arn.trim())
    .filter(Boolean);
  const sweepDryRun = app.node.tryGetContext('sweepDryRun');
  const nodeSelector = app.node.tryGetContext('sweepNodeSelector');
  const hookName = app.node.tryGetContext('lifecycleHookName');
  const hookGroups = String(app.node.tryGetContext('lifecycleGroupNames') ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  return {
    ...(schedule === undefined
      ? {}
      : {
          ...(schedule === 'none'
            ? { sweepScheduled: false }
            : { sweepSchedule: events.Schedule.expression(String(schedule)) }),
        }),
    ...(alarmArns.length > 0
      ? {
          sweepAlarms: alarmArns.map((arn, i) =>
            cloudwatch.Alarm.fromAlarmArn(stack, `SweepAlarm${i}`, arn),
          ),
        }
      : {}),
    ...(sweepDryRun === undefined ? {} : { sweepDryRun: String(sweepDryRun) === 'true' }),
    ...(nodeSelector ? { sweepNodeSelector: String(nodeSelector) } : {}),
    ...(hookName
      ? {
          lifecycleHook: {
            hookName: String(hookName),
            autoScalingGroupNames: hookGroups,
            createHooks: String(app.node.tryGetContext('createLifecycleHooks')) === 'true',
          },
        }
      : {}),
  };
}

/**
 * Fencing of hung nodes (`-c fenceHungNodes=true`, with `-c fenceAfterSeconds=300`,
 * `-c fenceAction=stop|terminate`, `-c fenceDryRun=true`, `-c fenceAlarmArns=a,b`).
 */
function fenceFromContext(app: App, stack: Stack): Partial<EbsVolumeRemediatorProps> {
  const context = (name: string) => {
    const value = app.node.tryGetContext(name);
    return value === undefined || value === '' ? undefined : String(value);
  };
  if (context('fenceHungNodes') !== 'true') return {};
  const after = context('fenceAfterSeconds');
  const actionName = context('fenceAction');
  const action = actionName === undefined ? undefined : fenceActionNamed(actionName);
  if (actionName !== undefined && !action) {
    throw new Error(`-c fenceAction must be stop or terminate, not "${actionName}"`);
  }
  const alarmArns = (context('fenceAlarmArns') ?? '')
    .split(',')
    .map((arn) => arn.trim())
    .filter(Boolean);
  const dryRun = context('fenceDryRun');
  return {
    fenceHungNodes: {
      ...(after === undefined ? {} : { fenceAfter: Duration.seconds(Number(after)) }),
      ...(action ? { action } : {}),
      ...(dryRun === undefined ? {} : { dryRun: dryRun === 'true' }),
      ...(alarmArns.length > 0
        ? {
            alarms: alarmArns.map((arn, i) =>
              cloudwatch.Alarm.fromAlarmArn(stack, `FenceAlarm${i}`, arn),
            ),
          }
        : {}),
    },
  };
}

export function buildApp(app: App): Stack {
  const props = propsFromContext(app);
  const stack = new Stack(app, app.node.tryGetContext('stackName') ?? 'EbsVolumeRemediator', {
    description: `ebs-volume-remediator for cluster ${props.clusterName}`,
  });
  const secretArn = app.node.tryGetContext('kubeconfigSecretArn');
  const secretKeyArn = app.node.tryGetContext('kubeconfigSecretKmsKeyArn');
  const busArn = app.node.tryGetContext('resultEventBusArn');
  const remediator = new EbsVolumeRemediator(stack, 'Remediator', {
    // The bundles `npm run build` wrote beside this app (run from the sources, the construct
    // cannot find them itself: bundles.ts).
    bundleDir: join(import.meta.dirname, '..', 'dist'),
    ...props,
    ...(secretArn
      ? {
          kubeconfigSecret: secretsmanager.Secret.fromSecretCompleteArn(
            stack,
            'Kubeconfig',
            String(secretArn),
          ),
        }
      : {}),
    ...(secretKeyArn
      ? { kubeconfigSecretKey: kms.Key.fromKeyArn(stack, 'KubeconfigKey', String(secretKeyArn)) }
      : {}),
    ...(busArn
      ? { resultEventBus: events.EventBus.fromEventBusArn(stack, 'ResultBus', String(busArn)) }
      : {}),
    ...sweepFromContext(app, stack),
    ...fenceFromContext(app, stack),
  });
  if (remediator.fenceFunction) {
    new CfnOutput(stack, 'FenceFunctionName', {
      description: 'Invoke with {"action":"fence-check","dryRun":true} to see what it would fence',
      value: remediator.fenceFunction.functionName,
    });
  }
  new CfnOutput(stack, 'NodeLossFunctionName', {
    description:
      'Invoke with {"action":"remediate","instanceIds":[...],"dryRun":true} to check the deployment',
    value: remediator.nodeLossFunction.functionName,
  });
  new CfnOutput(stack, 'SweepFunctionName', {
    description: 'Invoke with {"action":"sweep","dryRun":true} for a backfill report',
    value: remediator.sweepFunction.functionName,
  });
  new CfnOutput(stack, 'DeadLetterQueueUrl', { value: remediator.deadLetterQueue.queueUrl });
  new CfnOutput(stack, 'AlarmTopicArn', { value: remediator.alarmTopic.topicArn });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return stack;
}

if (import.meta.main) {
  const app = new App();
  buildApp(app);
  app.synth();
}
