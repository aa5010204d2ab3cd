/**
 * How an invocation reports beyond its return value: metrics (the action catalogue says which
 * metric each action adds to) and result events on EventBridge.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ResultEvent } from './aws/result-events.ts';
import { actionRow } from './contract/actions.ts';
import { metricNames } from './contract/metric-names.ts';
import type { ActionRecord, InstanceReport, PodRecovery } from './contract/result-events.ts';
import type { EventKind } from './events/types.ts';
import type { EventsFlushed } from './kubernetes/event-recorder.ts';
import { RemediationError } from './util/errors.ts';

/** What reporting needs of the function's dependencies. */
export interface ReportDeps {
  /** Sends result events; absent when no RESULT_EVENT_BUS is configured. Resolves with failures. */
  readonly publishResults?: (events: readonly ResultEvent[]) => Promise<number>;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  readonly metrics: Pick<Metrics, 'addMetric' | 'singleMetric'>;
  readonly now?: () => Date;
}

/** One event of a kind, received or skipped. */
export function countByKind(deps: ReportDeps, name: string, kind: EventKind): void {
  deps.metrics.singleMetric().addDimension('EventKind', kind).addMetric(name, MetricUnit.Count, 1);
}

/** A failed action counts as a failure; a done one adds to its metric (the action catalogue's). */
function recordAction(deps: ReportDeps, action: ActionRecord): void {
  if (action.outcome === 'failed')
    deps.metrics.addMetric(metricNames.failures, MetricUnit.Count, 1);
  const { metric } = actionRow(action.action);
  if (metric && action.outcome === 'done') deps.metrics.addMetric(metric, MetricUnit.Count, 1);
}

/** Each action's metric (the catalogue's) and failures. */
export function recordActions(deps: ReportDeps, actions: readonly ActionRecord[]): void {
  for (const action of actions) recordAction(deps, action);
}

/** Each replacement's time to recover, and those not recovered by the end of the watch. */
function recordRecoveries(deps: ReportDeps, recoveries: readonly PodRecovery[]): void {
  for (const recovery of recoveries) {
    if (recovery.outcome === 'not-recovered-yet') {
      deps.metrics.addMetric(metricNames.podsNotRecovered, MetricUnit.Count, 1);
    } else if (recovery.secondsToRecover !== undefined) {
      deps.metrics.addMetric(
        metricNames.timeToRecover,
        MetricUnit.Seconds,
        recovery.secondsToRecover,
      );
    }
  }
}

/** Refusals, each action's metric, failures, and the latency from the event's own time. */
export function recordMetrics(
  deps: ReportDeps,
  reports: readonly InstanceReport[],
  eventTime?: Date,
) {
  for (const report of reports) {
    if (report.outcome === 'refused') {
      deps.metrics.addMetric(metricNames.refusals, MetricUnit.Count, 1);
    }
    recordActions(deps, report.actions);
    recordRecoveries(deps, report.recoveries ?? []);
    if (eventTime && report.outcome === 'remediated') {
      const now = deps.now?.() ?? new Date();
      deps.metrics.addMetric(
        metricNames.remediationLatency,
        MetricUnit.Milliseconds,
        now.getTime() - eventTime.getTime(),
      );
    }
  }
}

/** Kubernetes Events are best effort: one that could not be written is logged and counted. */
export function recordEventsFlushed(deps: ReportDeps, { failures }: EventsFlushed): void {
  if (failures.length === 0) return;
  deps.metrics.addMetric(metricNames.kubernetesEventFailures, MetricUnit.Count, failures.length);
  deps.logger.warn('kubernetes events not written', { failures });
}

/** Sends the result events; entries EventBridge did not accept are counted and logged. */
export async function publish(deps: ReportDeps, events: readonly ResultEvent[]): Promise<void> {
  if (!deps.publishResults || events.length === 0) return;
  const failedEntries = await deps.publishResults(events);
  if (failedEntries > 0) {
    deps.metrics.addMetric(metricNames.resultEventFailures, MetricUnit.Count, failedEntries);
    deps.logger.error('result events not accepted by EventBridge', { failedEntries });
  }
}

/** After reporting: fails the invocation when an action failed, so Lambda retries it. */
export function throwOnFailures(reports: readonly InstanceReport[]): void {
  const failed = reports.filter((r) => r.outcome === 'failed');
  if (failed.length === 0) return;
  const messages = failed.flatMap((r) =>
    r.actions.filter((a) => a.outcome === 'failed').map((a) => a.detail ?? a.action),
  );
  throw new RemediationError(
    `remediating ${failed.map((r) => r.instanceId).join(', ')}: ${messages.length} action(s) failed: ${messages.join('; ')}`,
  );
}
