/**
 * What every function does with its input: parse it into a request, carry the request out
 * with the shared planner and executor, then report (return value, logs, metrics, result
 * events). Bad input is skipped (returned, never thrown, so it is not retried); a failed
 * action throws after everything is reported, so Lambda retries and the dead-letter queue
 * keeps the event.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  lifecycleResultDetailType,
  resultDetailType,
  resultEventDetail,
  sweepEventDetail,
  sweepResultDetailType,
} from './aws/result-events.ts';
import type { Config } from './config.ts';
import { metricNames, serviceName } from './contract/metric-names.ts';
import type { LifecycleResultDetail, Trigger } from './contract/result-events.ts';
import type { EventKind, Request } from './events/types.ts';
import type { FencePort } from './fencing/fence-port.ts';
import { type FenceCheckResult, handleFenceCheck } from './handle-fence-check.ts';
import { createEventRecorder } from './kubernetes/event-recorder.ts';
import {
  type AutoScalingPort,
  awaitDrainAndComplete,
  type LifecycleReport,
} from './lifecycle/await-drain.ts';
import type { ActionRecord, ExecutionDeps } from './remediation/execute.ts';
import type { Ec2Port, KubernetesPort } from './remediation/ports.ts';
import {
  type InstanceReport,
  liftOutOfServiceTaints,
  remediateInstances,
} from './remediation/remediate.ts';
import { type SweepReport, sweepCluster } from './remediation/sweep.ts';
import {
  countByKind,
  publish,
  type ReportDeps,
  recordEventsFlushed,
  recordMetrics,
  throwOnFailures,
} from './reporting.ts';

export interface HandlerDeps extends ReportDeps {
  readonly config: Config;
  readonly ec2: Ec2Port;
  /** The cluster's API, connected on first use (a skipped event never needs it). */
  readonly kubernetes: () => Promise<KubernetesPort>;
  /** Auto Scaling lifecycle calls; the lifecycle function's only. */
  readonly autoScaling?: AutoScalingPort;
  /** The fence's EC2 calls; the fence function's only. */
  readonly fence?: FencePort;
  /** The name Kubernetes Events are written under (`reportingInstance`): the function's. */
  readonly reportingInstance?: string;
}

export interface HandleOptions {
  /**
   * When to stop starting work (epoch ms), ahead of the Lambda timeout: actions not started by
   * then fail as "not started", everything is reported, and the throw has Lambda retry the event.
   */
  readonly deadline?: number;
  /** A sweep starts no new batch after this (epoch ms), so it ends inside the Lambda timeout. */
  readonly sweepDeadline?: number;
  /** How many instances a sweep remediates together. */
  readonly sweepBatchSize?: number;
  /** The clock the sweep reads its deadline against. */
  readonly clock?: () => number;
  /**
   * Throw when an action failed, after reporting (default true: Lambda then retries). The
   * command line reports the failure itself instead.
   */
  readonly throwOnFailure?: boolean;
  /** Called once per action as it finishes, after it is logged (the CLI shows progress). */
  readonly onAction?: (record: ActionRecord) => void;
}

/** What a function returns: the same facts it logs and sends as result events. */
export type InvocationResult =
  | { readonly status: 'skipped'; readonly kind: EventKind; readonly reason: string }
  | {
      readonly status: 'done';
      readonly kind: EventKind;
      readonly reason: string;
      readonly dryRun: boolean;
      readonly instances: readonly InstanceReport[];
    }
  | {
      readonly status: 'lifecycle';
      readonly kind: EventKind;
      readonly reason: string;
      readonly lifecycle: LifecycleReport;
    }
  | {
      readonly status: 'swept';
      readonly kind: EventKind;
      readonly reason: string;
      readonly dryRun: boolean;
      readonly sweep: SweepReport;
    }
  | FenceCheckResult;

/** A terminate lifecycle hook: wait for the node to be drained of its volumes, then complete. */
async function handleLifecycle(
  request: Extract<Request, { type: 'lifecycle' }>,
  deps: HandlerDeps,
): Promise<InvocationResult> {
  const { config, logger } = deps;
  if (!deps.autoScaling) throw new Error('lifecycle requests need an Auto Scaling client');
  logger.info('request accepted', {
    kind: request.kind,
    type: request.type,
    ...request.lifecycleAction,
    reason: request.reason,
  });
  const lifecycle = await awaitDrainAndComplete(
    request.lifecycleAction,
    { kube: await deps.kubernetes(), autoScaling: deps.autoScaling, ec2: deps.ec2 },
    {
      waitBudgetMs: config.lifecycleWaitMs,
      heartbeatIntervalMs: config.lifecycleHeartbeatMs,
      dryRun: config.dryRun,
    },
  );
  logger.info('lifecycle result', { ...lifecycle });
  deps.metrics
    .singleMetric()
    .addDimension('Outcome', lifecycle.outcome)
    .addMetric(metricNames.lifecycleActions, MetricUnit.Count, 1);
  const trigger: Trigger = {
    kind: request.kind,
    reason: request.reason,
    eventTime: request.eventTime.toISOString(),
  };
  await publish(deps, [
    {
      detailType: lifecycleResultDetailType,
      detail: {
        clusterName: config.clusterName,
        trigger,
        ...lifecycle,
      } satisfies LifecycleResultDetail,
    },
  ]);
  return { status: 'lifecycle', kind: request.kind, reason: request.reason, lifecycle };
}

export async function handleInput(
  input: unknown,
  parse: (input: unknown, config: Config) => Request,
  deps: HandlerDeps,
  options: HandleOptions = {},
): Promise<InvocationResult> {
  const { config, logger } = deps;
  const request = parse(input, config);
  countByKind(deps, metricNames.eventsReceived, request.kind);
  if (request.type === 'skip') {
    countByKind(deps, metricNames.eventsSkipped, request.kind);
    logger.warn('input skipped', { kind: request.kind, reason: request.reason });
    return { status: 'skipped', kind: request.kind, reason: request.reason };
  }
  if (request.type === 'lifecycle') return handleLifecycle(request, deps);

  const dryRun =
    config.dryRun ||
    ((request.type === 'remediate' || request.type === 'sweep' || request.type === 'fence-check') &&
      request.dryRun === true);
  logger.info('request accepted', {
    kind: request.kind,
    type: request.type,
    ...('instanceIds' in request ? { instanceIds: request.instanceIds } : {}),
    reason: request.reason,
    dryRun,
  });
  const kube = await deps.kubernetes();
  // A dry-run has nowhere to write Events to: it writes none.
  const events = dryRun
    ? undefined
    : createEventRecorder(kube, { reportingInstance: deps.reportingInstance ?? serviceName });
  const context: RequestContext = {
    deps,
    options,
    dryRun,
    executionDeps: {
      ec2: deps.ec2,
      kube,
      ...(events ? { events } : {}),
      ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
      onAction: (record: ActionRecord) => {
        logger[record.outcome === 'failed' ? 'error' : 'info']('action', { ...record, dryRun });
        options.onAction?.(record);
      },
    },
    trigger: {
      kind: request.kind,
      reason: request.reason,
      ...(request.eventTime ? { eventTime: request.eventTime.toISOString() } : {}),
    },
  };
  try {
    switch (request.type) {
      case 'sweep':
        return await handleSweep(request, context);
      case 'fence-check':
        return await handleFenceCheck(request, context);
      default:
        return await handleInstances(request, context);
    }
  } finally {
    if (events) recordEventsFlushed(deps, await events.flush());
  }
}

/** What the handling of one accepted request shares. */
export interface RequestContext {
  readonly deps: HandlerDeps;
  readonly options: HandleOptions;
  readonly dryRun: boolean;
  readonly executionDeps: ExecutionDeps;
  readonly trigger: Trigger;
}

async function handleSweep(
  request: Extract<Request, { type: 'sweep' }>,
  { deps, options, dryRun, executionDeps, trigger }: RequestContext,
): Promise<InvocationResult> {
  const { config, logger } = deps;
  const sweep = await sweepCluster(
    executionDeps,
    { ...config, dryRun },
    {
      ...(options.sweepDeadline === undefined ? {} : { deadline: options.sweepDeadline }),
      ...(options.sweepBatchSize === undefined ? {} : { batchSize: options.sweepBatchSize }),
      ...(options.clock === undefined ? {} : { now: options.clock }),
    },
  );
  const { instances: _instances, ...summary } = sweep;
  logger.info('sweep result', { ...summary, trigger });
  recordMetrics(deps, sweep.instances);
  deps.metrics.addMetric(
    metricNames.staleAttachmentsFound,
    MetricUnit.Count,
    sweep.staleAttachments,
  );
  deps.metrics.addMetric(metricNames.eventsMissed, MetricUnit.Count, sweep.eventsMissed);
  if (!sweep.complete) deps.metrics.addMetric(metricNames.sweepsIncomplete, MetricUnit.Count, 1);
  await publish(deps, [
    {
      detailType: sweepResultDetailType,
      detail: sweepEventDetail(sweep, config.clusterName, trigger),
    },
  ]);
  if (options.throwOnFailure ?? true) throwOnFailures(sweep.instances);
  return { status: 'swept', kind: request.kind, reason: request.reason, dryRun, sweep };
}

async function handleInstances(
  request: Extract<Request, { type: 'remediate' | 'lift-taint' }>,
  { deps, options, dryRun, executionDeps, trigger }: RequestContext,
): Promise<InvocationResult> {
  const { config, logger } = deps;
  // An announced state is EC2's API catching up (seconds); one only on its way, a shutdown.
  const awaiting = request.expects && {
    ...request.expects,
    timeoutMs: request.expects.announced ? config.ec2CatchUpMs : config.shutdownWatchMs,
  };
  const diedAt = request.type === 'remediate' ? request.diedAt : undefined;
  const reports =
    request.type === 'remediate'
      ? await remediateInstances(
          request.instanceIds,
          executionDeps,
          { ...config, dryRun },
          {
            ...(awaiting ? { awaiting } : {}),
            ...(diedAt
              ? { diedAt: new Map(request.instanceIds.map((id) => [id, Number(diedAt)])) }
              : {}),
          },
        )
      : await liftOutOfServiceTaints(
          request.instanceIds,
          executionDeps,
          { dryRun, clusterName: config.clusterName },
          awaiting,
        );
  for (const report of reports) {
    const { actions: _actions, ...summary } = report;
    logger.info('instance result', { ...summary, actionCount: report.actions.length });
  }
  recordMetrics(deps, reports, request.eventTime);
  // Instances that are none of this cluster's business make no result event: every instance
  // in the account sends state changes.
  await publish(
    deps,
    reports
      .filter((r) => r.outcome !== 'skipped')
      .map((r) => ({
        detailType: resultDetailType,
        detail: resultEventDetail(r, config.clusterName, trigger),
      })),
  );
  if (options.throwOnFailure ?? true) throwOnFailures(reports);
  return { status: 'done', kind: request.kind, reason: request.reason, dryRun, instances: reports };
}
