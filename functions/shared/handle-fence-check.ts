/**
 * The fence function's request: look for hung nodes, fence what the rules allow, recover what
 * was fenced; then report each hung node (metrics, a fence result event with the evidence) and
 * each recovery (as any remediation is reported).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { fenceResultDetailType, resultDetailType, resultEventDetail } from './aws/result-events.ts';
import type { Config } from './config.ts';
import { metricNames } from './contract/metric-names.ts';
import type { FenceReport, FenceResultDetail, Trigger } from './contract/result-events.ts';
import type { EventKind, Request } from './events/types.ts';
import { checkHungNodes, type FenceCheckReport } from './fencing/check-hung-nodes.ts';
import type { FencePort } from './fencing/fence-port.ts';
import type { ExecutionDeps } from './remediation/execute.ts';
import {
  publish,
  type ReportDeps,
  recordActions,
  recordMetrics,
  throwOnFailures,
} from './reporting.ts';
import { RemediationError } from './util/errors.ts';

/** The remediations that followed the fences. */
const recoveriesOf = (reports: readonly FenceReport[]) =>
  reports.flatMap((r) => (r.recovery ? [r.recovery] : []));

function recordFenceMetrics(deps: ReportDeps, reports: readonly FenceReport[]): void {
  for (const report of reports) {
    if (report.outcome === 'refused') {
      // Once for the alarm (the cluster's dimensions), once by rule for a closer look.
      deps.metrics.addMetric(metricNames.fencesRefused, MetricUnit.Count, 1);
      deps.metrics
        .singleMetric()
        .addDimension('Rule', report.refusedBy ?? 'unknown')
        .addMetric(metricNames.fencesRefused, MetricUnit.Count, 1);
    }
  }
  // The fence's own metric (InstancesFenced) and failures, as every action's; then the recoveries'.
  recordActions(
    deps,
    reports.flatMap((r) => r.actions),
  );
  recordMetrics(deps, recoveriesOf(reports));
}

/** What a fence check returns: the same facts it logs and sends as result events. */
export interface FenceCheckResult {
  readonly status: 'fence-check';
  readonly kind: EventKind;
  readonly reason: string;
  readonly dryRun: boolean;
  readonly check: FenceCheckReport;
}

/** What the fence check is handled with (handle-input.ts's request context). */
export interface FenceCheckContext {
  readonly deps: ReportDeps & { readonly config: Config; readonly fence?: FencePort };
  readonly options: { readonly throwOnFailure?: boolean };
  readonly dryRun: boolean;
  readonly executionDeps: ExecutionDeps;
  readonly trigger: Trigger;
}

export async function handleFenceCheck(
  request: Extract<Request, { type: 'fence-check' }>,
  { deps, options, dryRun, executionDeps, trigger }: FenceCheckContext,
): Promise<FenceCheckResult> {
  const { config, logger } = deps;
  if (!deps.fence) throw new Error('fence checks need the fence port');
  const check = await checkHungNodes(
    { ...executionDeps, fence: deps.fence },
    { ...config, dryRun },
    request.instanceIds ? { instanceIds: request.instanceIds } : {},
  );
  for (const report of check.reports) {
    const { actions: _actions, recovery, ...summary } = report;
    logger[report.outcome === 'fenced' ? 'warn' : 'info']('fence result', {
      ...summary,
      ...(recovery ? { recovery: recovery.outcome } : {}),
    });
  }
  logger.info('fence check', {
    nodesExamined: check.nodesExamined,
    notReady: check.notReady,
    hung: check.reports.length,
    trigger,
  });
  recordFenceMetrics(deps, check.reports);
  await publish(deps, [
    ...check.reports.map((report) => ({
      detailType: fenceResultDetailType,
      detail: { clusterName: config.clusterName, trigger, ...report } satisfies FenceResultDetail,
    })),
    ...recoveriesOf(check.reports).map((recovery) => ({
      detailType: resultDetailType,
      detail: resultEventDetail(recovery, config.clusterName, trigger),
    })),
  ]);
  if (options.throwOnFailure ?? true) {
    const failed = check.reports.filter((r) => r.outcome === 'failed');
    if (failed.length > 0) {
      throw new RemediationError(
        `fencing ${failed.map((r) => r.instanceId).join(', ')}: ${failed.map((r) => r.reason).join('; ')}`,
      );
    }
    throwOnFailures(recoveriesOf(check.reports));
  }
  return { status: 'fence-check', kind: request.kind, reason: request.reason, dryRun, check };
}
