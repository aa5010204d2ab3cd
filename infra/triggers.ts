/**
 * What starts the functions: EventBridge rules on EC2 and Auto Scaling events (sources and
 * detail-types from the event-sources contract, the same the parsers are keyed by), the
 * lifecycle hook, the sweep's schedule and alarms.
 */
import {
  aws_autoscaling as autoscaling,
  type aws_cloudwatch as cloudwatch,
  Duration,
  aws_events as events,
  aws_iam as iam,
  type aws_lambda as lambda,
  Stack,
  type aws_sqs as sqs,
  aws_events_targets as targets,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { eventSources } from '../functions/shared/contract/event-sources.ts';
import type { EbsVolumeRemediatorProps, FenceHungNodesProps, LifecycleHookProps } from './props.ts';

const { ec2InstanceStateChange, autoScalingTerminateSuccessful } = eventSources;

/** node-loss: EC2 state changes and Auto Scaling terminations. */
export function addNodeLossRules(
  scope: Construct,
  fn: lambda.IFunction,
  deadLetterQueue: sqs.IQueue,
): void {
  const target = new targets.LambdaFunction(fn, {
    deadLetterQueue,
    retryAttempts: 8,
    maxEventAge: Duration.hours(1),
  });
  new events.Rule(scope, 'Ec2StateChangeRule', {
    description: 'EC2 instances going, gone, stopped or running again: ebs-volume-remediator',
    eventPattern: {
      source: [ec2InstanceStateChange.source],
      detailType: [ec2InstanceStateChange.detailType],
      detail: { state: ['shutting-down', 'terminated', 'stopped', 'running'] },
    },
    targets: [target],
  });
  new events.Rule(scope, 'AutoScalingTerminateRule', {
    description: 'Instances an Auto Scaling group terminated: ebs-volume-remediator',
    eventPattern: {
      source: [autoScalingTerminateSuccessful.source],
      detailType: [autoScalingTerminateSuccessful.detailType],
    },
    targets: [target],
  });
}

/** lifecycle: the hook's lifecycle actions, and the hooks themselves when asked to create them. */
export function addLifecycleTriggers(
  scope: Construct,
  fn: lambda.IFunction,
  deadLetterQueue: sqs.IQueue,
  hook: LifecycleHookProps,
  heartbeatTimeout: Duration,
): void {
  const { source, detailType } = eventSources.autoScalingTerminateLifecycleAction;
  new events.Rule(scope, 'LifecycleActionRule', {
    description: 'Scale-in held by the ebs-volume-remediator lifecycle hook',
    eventPattern: {
      source: [source],
      detailType: [detailType],
      detail: {
        LifecycleHookName: [hook.hookName],
        AutoScalingGroupName: hook.autoScalingGroupNames,
      },
    },
    targets: [new targets.LambdaFunction(fn, { deadLetterQueue, retryAttempts: 2 })],
  });
  if (!(hook.createHooks ?? false)) return;
  hook.autoScalingGroupNames.forEach((group, index) => {
    new autoscaling.CfnLifecycleHook(scope, `LifecycleHook${index}`, {
      autoScalingGroupName: group,
      lifecycleHookName: hook.hookName,
      lifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      heartbeatTimeout: heartbeatTimeout.toSeconds(),
      // If the remediator is gone, scale-in goes on; node-loss cleans up after.
      defaultResult: 'CONTINUE',
    });
  });
}

/** sweep: its schedule, alarms' Lambda actions, and the alarms it is given. */
export function addSweepTriggers(
  scope: Construct,
  fn: lambda.Function,
  deadLetterQueue: sqs.IQueue,
  props: EbsVolumeRemediatorProps,
): void {
  const input =
    props.sweepDryRun === undefined
      ? undefined
      : events.RuleTargetInput.fromObject({ action: 'sweep', dryRun: props.sweepDryRun });
  const target = new targets.LambdaFunction(fn, {
    deadLetterQueue,
    retryAttempts: 2,
    ...(input ? { event: input } : {}),
  });
  if (props.sweepScheduled ?? true) {
    new events.Rule(scope, 'SweepScheduleRule', {
      description: 'Regular sweep for attachments of dead nodes: ebs-volume-remediator',
      schedule: props.sweepSchedule ?? events.Schedule.rate(Duration.minutes(15)),
      targets: [target],
    });
  }
  // The function reads the alarm from the event: an InstanceId dimension remediates that
  // instance, any other alarm sweeps.
  addAlarmTriggers(scope, fn, deadLetterQueue, props.sweepAlarms ?? [], {
    ruleId: 'SweepAlarmRule',
    what: 'Operator alarms that start a sweep',
  });
}

/**
 * Alarms that start `fn`: any alarm of the account may name it as its Lambda action, and a rule
 * invokes it when one of `alarms` enters ALARM (and only then).
 */
function addAlarmTriggers(
  scope: Construct,
  fn: lambda.Function,
  deadLetterQueue: sqs.IQueue,
  alarms: readonly cloudwatch.IAlarm[],
  rule: { readonly ruleId: string; readonly what: string },
): void {
  fn.addPermission('InvokeFromAlarmActions', {
    principal: new iam.ServicePrincipal('lambda.alarms.cloudwatch.amazonaws.com'),
    sourceAccount: Stack.of(scope).account,
  });
  if (alarms.length === 0) return;
  const { source, detailType } = eventSources.cloudWatchAlarmStateChange;
  new events.Rule(scope, rule.ruleId, {
    description: `${rule.what}: ebs-volume-remediator`,
    eventPattern: {
      source: [source],
      detailType: [detailType],
      resources: alarms.map((alarm) => alarm.alarmArn),
      detail: { state: { value: ['ALARM'] } },
    },
    targets: [new targets.LambdaFunction(fn, { deadLetterQueue, retryAttempts: 2 })],
  });
}

/** fence: its schedule (every minute unless told), the alarms it is given, alarms' Lambda actions. */
export function addFenceTriggers(
  scope: Construct,
  fn: lambda.Function,
  deadLetterQueue: sqs.IQueue,
  fence: FenceHungNodesProps,
): void {
  if (fence.scheduled ?? true) {
    new events.Rule(scope, 'FenceScheduleRule', {
      description: 'Looks for hung nodes to fence: ebs-volume-remediator',
      schedule: fence.schedule ?? events.Schedule.rate(Duration.minutes(1)),
      // A missed tick is made up by the next minute's: no retries piling up behind a long fence.
      targets: [new targets.LambdaFunction(fn, { deadLetterQueue, retryAttempts: 0 })],
    });
  }
  addAlarmTriggers(scope, fn, deadLetterQueue, fence.alarms ?? [], {
    ruleId: 'FenceAlarmRule',
    what: 'Status check alarms that ask for a hung node to be judged at once',
  });
}
