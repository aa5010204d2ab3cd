/**
 * The one logger, metrics and tracer instance of every function (Powertools for AWS Lambda),
 * created once per cold start and imported where needed.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

export const serviceName = 'ebs-volume-remediator';

/** The CloudWatch namespace of every metric; the CDK alarms and dashboard use it too. */
export const metricsNamespace = 'EbsVolumeRemediator';

export const logger = new Logger({ serviceName });
export const metrics = new Metrics({ namespace: metricsNamespace, serviceName });
export const tracer = new Tracer({ serviceName });

/** Metric names, shared with the alarms and the dashboard. */
export const metricNames = {
  eventsReceived: 'EventsReceived',
  eventsSkipped: 'EventsSkipped',
  volumesDetached: 'VolumesDetached',
  volumesForceDetached: 'VolumesForceDetached',
  attachmentsDeleted: 'AttachmentsDeleted',
  finalizersRemoved: 'FinalizersRemoved',
  taintsChanged: 'TaintsChanged',
  refusals: 'Refusals',
  failures: 'Failures',
  resultEventFailures: 'ResultEventFailures',
  remediationLatency: 'RemediationLatency',
} as const;

export { MetricUnit };
