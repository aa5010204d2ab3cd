/**
 * What tells operators what happened: the remediator's metrics (their names from the metric
 * names contract), the alarms on them and on the functions, the alarm topic, the dashboard.
 */
import {
  aws_cloudwatch as cloudwatch,
  aws_cloudwatch_actions as cloudwatchActions,
  Duration,
  aws_iam as iam,
  aws_kms as kms,
  type aws_lambda as lambda,
  aws_sns as sns,
  type aws_sqs as sqs,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import {
  clusterDimension,
  metricNames,
  metricsNamespace,
  serviceName,
} from '../functions/shared/contract/metric-names.ts';

/** A metric the functions emit, for one cluster. */
export function remediatorMetric(metricName: string, clusterName: string, statistic = 'Sum') {
  return new cloudwatch.Metric({
    namespace: metricsNamespace,
    metricName,
    dimensionsMap: { service: serviceName, [clusterDimension]: clusterName },
    statistic,
    period: Duration.minutes(5),
  });
}

/** The topic every alarm notifies, encrypted with a key CloudWatch may use. */
export function createAlarmTopic(scope: Construct): sns.Topic {
  // CloudWatch can publish to an encrypted topic only with a customer managed key it may use.
  const key = new kms.Key(scope, 'AlarmTopicKey', {
    description: 'Encrypts the ebs-volume-remediator alarm topic',
    enableKeyRotation: true,
  });
  key.grant(
    new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
    'kms:Decrypt',
    'kms:GenerateDataKey*',
  );
  return new sns.Topic(scope, 'AlarmTopic', {
    displayName: 'ebs-volume-remediator alarms',
    masterKey: key,
    enforceSSL: true,
  });
}

/** A function of the remediator, as its alarms name it. */
export interface WatchedFunction {
  /** The prefix of its alarms' ids. */
  readonly id: string;
  /** Its name in the alarms' descriptions. */
  readonly name: string;
  readonly fn: lambda.IFunction;
  /**
   * Throttles are its design, not a fault: the fence function runs one at a time, and a
   * schedule tick that finds it busy is made up by the next.
   */
  readonly throttlesExpected?: boolean;
}

/** What the alarms watch. */
export interface AlarmTargets {
  readonly clusterName: string;
  readonly functions: readonly WatchedFunction[];
  readonly deadLetterQueue: sqs.IQueue;
  readonly alarmTopic: sns.ITopic;
  /** Hung nodes are fenced: an alarm on every fence and on every refusal to fence. */
  readonly fencing?: boolean;
}

/** The alarms: each function's errors and throttles, the dead-letter queue, failures, refusals. */
export function addAlarms(scope: Construct, watched: AlarmTargets): cloudwatch.Alarm[] {
  const action = new cloudwatchActions.SnsAction(watched.alarmTopic);
  const alarms: cloudwatch.Alarm[] = [];
  const alarm = (id: string, description: string, metric: cloudwatch.IMetric) => {
    const created = new cloudwatch.Alarm(scope, id, {
      alarmDescription: description,
      metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    created.addAlarmAction(action);
    alarms.push(created);
  };
  for (const { id, name, fn, throttlesExpected } of watched.functions) {
    alarm(
      `${id}ErrorsAlarm`,
      `${name} failed an invocation: volumes of a dead node may still be held. Check its logs; Lambda retries, then the dead-letter queue keeps the event.`,
      fn.metricErrors({ period: Duration.minutes(5) }),
    );
    if (throttlesExpected) continue;
    alarm(
      `${id}ThrottlesAlarm`,
      `${name} was throttled: remediation is delayed. Check the account's Lambda concurrency.`,
      fn.metricThrottles({ period: Duration.minutes(5) }),
    );
  }
  alarm(
    'DeadLetterQueueAlarm',
    'Events failed every retry and wait in the dead-letter queue: remediate those instances by hand or run a sweep.',
    watched.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5),
      statistic: 'Maximum',
    }),
  );
  alarm(
    'RemediationFailuresAlarm',
    'An action of a remediation failed (detach, VolumeAttachment delete, taint): see the function logs for what was being done.',
    remediatorMetric(metricNames.failures, watched.clusterName),
  );
  if (watched.fencing) {
    alarm(
      'InstancesFencedAlarm',
      'The remediator fenced a hung node: it stopped (or terminated) an instance whose Node was NotReady with a stale Lease while EC2 said running, then freed its volumes. Look at the fence result event for the evidence, and at the instance (kept stopped for a post-mortem) for the cause.',
      remediatorMetric(metricNames.instancesFenced, watched.clusterName),
    );
    alarm(
      'FencesRefusedAlarm',
      'A hung node was not fenced: too many Nodes NotReady at once (a partition), the fence rate limit, a control-plane or opted-out Node, or a Lease renewed at the last moment. Its pods stay stuck until someone acts: see the fence result event.',
      remediatorMetric(metricNames.fencesRefused, watched.clusterName),
    );
  }
  alarm(
    'EventsMissedAlarm',
    'Recovered by the sweep: the events missed instances that died more than 10 minutes before it (a lost event, a disabled rule, events in the dead-letter queue). Their pods waited for the sweep. Check the EventBridge rules, the dead-letter queue and the node-loss errors.',
    remediatorMetric(metricNames.eventsMissed, watched.clusterName),
  );
  alarm(
    'PodsNotRecoveredAlarm',
    "A pod evicted from a dead node has no replacement Running by the end of the recovery watch (RECOVERY_WATCH_SECONDS): the result event's recoveries and the PodNotRecoveredYet Kubernetes Event say what it waits on (no replacement, unschedulable, a volume not attached).",
    remediatorMetric(metricNames.podsNotRecovered, watched.clusterName),
  );
  alarm(
    'SafetyRefusalsAlarm',
    'The remediator refused to act (a running instance named by an event, or the circuit breaker): check the instance, then remediate by hand if it is really gone.',
    remediatorMetric(metricNames.refusals, watched.clusterName),
  );
  return alarms;
}

/** The dashboard: events by kind, remediations, latency, time to recover, failures and refusals. */
export function addDashboard(
  scope: Construct,
  clusterName: string,
  functions: {
    readonly nodeLoss: lambda.IFunction;
    readonly sweep: lambda.IFunction;
    readonly fence?: lambda.IFunction;
  },
): cloudwatch.Dashboard {
  const metric = (name: string, statistic = 'Sum') =>
    remediatorMetric(name, clusterName, statistic);
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard');
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Events received, by kind',
      left: [
        new cloudwatch.MathExpression({
          expression: `SEARCH('{${metricsNamespace},${clusterDimension},EventKind,service} MetricName="${metricNames.eventsReceived}" ${clusterDimension}="${clusterName}"', 'Sum', 300)`,
          label: 'events',
          period: Duration.minutes(5),
        }),
      ],
    }),
    new cloudwatch.GraphWidget({
      title: 'Remediations',
      left: [
        metric(metricNames.volumesDetached),
        metric(metricNames.volumesForceDetached),
        metric(metricNames.attachmentsDeleted),
        metric(metricNames.finalizersRemoved),
        metric(metricNames.taintsChanged),
      ],
    }),
    new cloudwatch.GraphWidget({
      title: 'Latency from the event to volumes free (ms)',
      left: [
        metric(metricNames.remediationLatency, 'p50'),
        metric(metricNames.remediationLatency, 'p99'),
      ],
    }),
    new cloudwatch.GraphWidget({
      title: "Time to recover: from the instance's death to the replacement pod Running (s)",
      left: [
        metric(metricNames.timeToRecover, 'p50'),
        metric(metricNames.timeToRecover, 'p90'),
        metric(metricNames.timeToRecover, 'Maximum'),
      ],
      right: [metric(metricNames.podsNotRecovered)],
    }),
    new cloudwatch.GraphWidget({
      title: 'Failures, refusals, events missed',
      left: [
        metric(metricNames.failures),
        metric(metricNames.refusals),
        metric(metricNames.eventsMissed),
        functions.nodeLoss.metricErrors({ label: 'node-loss errors' }),
        functions.sweep.metricErrors({ label: 'sweep errors' }),
      ],
    }),
  );
  if (functions.fence) {
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Hung nodes fenced, and refused',
        left: [
          metric(metricNames.instancesFenced),
          metric(metricNames.fencesRefused),
          functions.fence.metricErrors({ label: 'fence errors' }),
        ],
      }),
    );
  }
  return dashboard;
}
