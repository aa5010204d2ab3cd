import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import {
  type ResultEventDetail,
  resultEventDetail,
  type Trigger,
} from '../shared/aws/result-events.ts';
import type { Config } from '../shared/config.ts';
import { RemediationError } from '../shared/errors.ts';
import { parseNodeLossInput } from '../shared/events/registry.ts';
import type { EventKind } from '../shared/events/types.ts';
import { MetricUnit, metricNames } from '../shared/observability.ts';
import type { ActionRecord } from '../shared/remediation/execute.ts';
import type { Ec2Port, KubernetesPort } from '../shared/remediation/ports.ts';
import {
  type InstanceReport,
  liftOutOfServiceTaints,
  remediateInstances,
} from '../shared/remediation/remediate.ts';

export interface NodeLossDeps {
  readonly config: Config;
  readonly ec2: Ec2Port;
  /** The cluster's API, connected on first use (a skipped event never needs it). */
  readonly kubernetes: () => Promise<KubernetesPort>;
  /** Sends result events; absent when no RESULT_EVENT_BUS is configured. Resolves with failures. */
  readonly publishResults?: (details: readonly ResultEventDetail[]) => Promise<number>;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  readonly metrics: Pick<Metrics, 'addMetric' | 'singleMetric'>;
  readonly now?: () => Date;
}

/** What the function returns: the same facts it logs and sends as result events. */
export type NodeLossResult =
  | { readonly status: 'skipped'; readonly kind: EventKind; readonly reason: string }
  | {
      readonly status: 'done';
      readonly kind: EventKind;
      readonly reason: string;
      readonly dryRun: boolean;
      readonly instances: readonly InstanceReport[];
    };

const metricOfAction: Partial<Record<ActionRecord['action'], string>> = {
  'detach-volume': metricNames.volumesDetached,
  'force-detach-volume': metricNames.volumesForceDetached,
  'delete-volumeattachment': metricNames.attachmentsDeleted,
  'remove-finalizer': metricNames.finalizersRemoved,
  'taint-node': metricNames.taintsChanged,
  'lift-taint': metricNames.taintsChanged,
};

function countByKind(deps: NodeLossDeps, name: string, kind: EventKind): void {
  deps.metrics.singleMetric().addDimension('EventKind', kind).addMetric(name, MetricUnit.Count, 1);
}

function recordMetrics(deps: NodeLossDeps, reports: readonly InstanceReport[], eventTime?: Date) {
  for (const report of reports) {
    if (report.outcome === 'refused')
      deps.metrics.addMetric(metricNames.refusals, MetricUnit.Count, 1);
    for (const action of report.actions) {
      if (action.outcome === 'failed')
        deps.metrics.addMetric(metricNames.failures, MetricUnit.Count, 1);
      const metric = metricOfAction[action.action];
      if (metric && action.outcome === 'done') deps.metrics.addMetric(metric, MetricUnit.Count, 1);
    }
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

/**
 * The node-loss function: from an EC2 or Auto Scaling event, or a manual invoke, to volumes
 * free for the new node. Bad input is skipped (returned, never thrown, so it is not retried);
 * a failed action throws after everything is reported, so Lambda retries the event.
 */
export async function handleNodeLoss(input: unknown, deps: NodeLossDeps): Promise<NodeLossResult> {
  const { config, logger } = deps;
  const request = parseNodeLossInput(input, config);
  countByKind(deps, metricNames.eventsReceived, request.kind);
  if (request.type === 'skip') {
    countByKind(deps, metricNames.eventsSkipped, request.kind);
    logger.warn('input skipped', { kind: request.kind, reason: request.reason });
    return { status: 'skipped', kind: request.kind, reason: request.reason };
  }

  const dryRun = config.dryRun || (request.type === 'remediate' && request.dryRun === true);
  logger.info('request accepted', {
    kind: request.kind,
    type: request.type,
    instanceIds: request.instanceIds,
    reason: request.reason,
    dryRun,
  });
  const kube = await deps.kubernetes();
  const executionDeps = {
    ec2: deps.ec2,
    kube,
    onAction: (record: ActionRecord) =>
      logger[record.outcome === 'failed' ? 'error' : 'info']('action', { ...record, dryRun }),
  };
  const reports =
    request.type === 'remediate'
      ? await remediateInstances(request.instanceIds, executionDeps, { ...config, dryRun })
      : await liftOutOfServiceTaints(request.instanceIds, executionDeps, { dryRun });

  for (const report of reports) {
    const { actions: _actions, ...summary } = report;
    logger.info('instance result', { ...summary, actionCount: report.actions.length });
  }
  recordMetrics(deps, reports, request.eventTime);

  const trigger: Trigger = {
    kind: request.kind,
    reason: request.reason,
    ...(request.eventTime ? { eventTime: request.eventTime.toISOString() } : {}),
  };
  // Instances that are none of this cluster's business make no result event: every instance
  // in the account sends state changes.
  const worthReporting = reports.filter((r) => r.outcome !== 'skipped');
  if (deps.publishResults && worthReporting.length > 0) {
    const failedEntries = await deps.publishResults(
      worthReporting.map((r) => resultEventDetail(r, config.clusterName, trigger)),
    );
    if (failedEntries > 0) {
      deps.metrics.addMetric(metricNames.resultEventFailures, MetricUnit.Count, failedEntries);
      logger.error('result events not accepted by EventBridge', { failedEntries });
    }
  }

  const failed = reports.filter((r) => r.outcome === 'failed');
  if (failed.length > 0) {
    const messages = failed.flatMap((r) =>
      r.actions.filter((a) => a.outcome === 'failed').map((a) => a.detail ?? a.action),
    );
    throw new RemediationError(
      `remediating ${failed.map((r) => r.instanceId).join(', ')}: ${messages.length} action(s) failed: ${messages.join('; ')}`,
    );
  }
  return { status: 'done', kind: request.kind, reason: request.reason, dryRun, instances: reports };
}
