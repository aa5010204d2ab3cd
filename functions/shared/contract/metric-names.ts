/**
 * Names shared by the functions that emit metrics and the CDK construct whose alarms and
 * dashboard read them. Plain constants: importing them starts nothing.
 */

/** The CloudWatch namespace of every metric. */
export const metricsNamespace = 'EbsVolumeRemediator';

/** The Powertools service name: the `service` dimension of every metric. */
export const serviceName = 'ebs-volume-remediator';

/** The dimension that keeps the metrics of several clusters in one account apart. */
export const clusterDimension = 'ClusterName';

export const metricNames = {
  eventsReceived: 'EventsReceived',
  eventsSkipped: 'EventsSkipped',
  volumesDetached: 'VolumesDetached',
  volumesForceDetached: 'VolumesForceDetached',
  attachmentsDeleted: 'AttachmentsDeleted',
  finalizersRemoved: 'FinalizersRemoved',
  taintsChanged: 'TaintsChanged',
  podsDeleted: 'PodsDeleted',
  refusals: 'Refusals',
  failures: 'Failures',
  resultEventFailures: 'ResultEventFailures',
  remediationLatency: 'RemediationLatency',
  staleAttachmentsFound: 'StaleAttachmentsFound',
  sweepsIncomplete: 'SweepsIncomplete',
  lifecycleActions: 'LifecycleActionsCompleted',
  instancesFenced: 'InstancesFenced',
  eventsMissed: 'EventsMissed',
  fencesRefused: 'FencesRefused',
  kubernetesEventFailures: 'KubernetesEventFailures',
  timeToRecover: 'TimeToRecover',
  podsNotRecovered: 'PodsNotRecovered',
} as const;
