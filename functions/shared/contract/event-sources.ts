/**
 * The EventBridge events the functions take: each kind's source and detail-type. The parsers are
 * keyed by them and the construct's rules match them, from this one place: a rule that matched
 * another string would never fire, silently. Constants only.
 */

export interface EventKindName {
  readonly source: string;
  readonly detailType: string;
}

export const eventSources = {
  ec2InstanceStateChange: {
    source: 'aws.ec2',
    detailType: 'EC2 Instance State-change Notification',
  },
  autoScalingTerminateSuccessful: {
    source: 'aws.autoscaling',
    detailType: 'EC2 Instance Terminate Successful',
  },
  autoScalingTerminateLifecycleAction: {
    source: 'aws.autoscaling',
    detailType: 'EC2 Instance-terminate Lifecycle Action',
  },
  cloudWatchAlarmStateChange: {
    source: 'aws.cloudwatch',
    detailType: 'CloudWatch Alarm State Change',
  },
  scheduledEvent: {
    source: 'aws.events',
    detailType: 'Scheduled Event',
  },
} as const satisfies Record<string, EventKindName>;
