/**
 * The sweep: the backfill for events that never arrived. It finds every EBS CSI
 * VolumeAttachment whose node's instance is stopped, terminated or gone, and remediates those
 * instances with the same planner and executor as node-loss, batch by batch, stopping at a safe
 * point when its time budget runs out.
 */

import type { SweepSummary } from '../contract/result-events.ts';
import { instanceIdFromProviderId, isInstanceId } from '../identity/aws-ids.ts';
import { isEbsAttacher } from '../identity/volume-attachment-name.ts';
import { destructiveActionsTaken } from './circuit-breaker.ts';
import { attachmentsDeleted, type ExecutionDeps, volumesDetached } from './execute.ts';
import type { AttachmentFacts, InstanceState } from './facts.ts';
import { isOurOutOfServiceTaint } from './out-of-service-taint.ts';
import type { InstancePlan } from './plan.ts';
import {
  type InstanceReport,
  liftOutOfServiceTaints,
  planInstances,
  type RemediationSettings,
  remediateInstances,
} from './remediate.ts';
import { refusedEvent } from './report-events.ts';
import { podsStuckBehind } from './stuck-pods.ts';

/** One sweep's report: returned, logged, and sent (instances summed up) as one result event. */
export interface SweepReport extends SweepSummary {
  readonly instances: readonly InstanceReport[];
}

export interface SweepOptions {
  /** When to stop starting new batches (epoch ms). A batch started before it always finishes. */
  readonly deadline?: number;
  /** Instances remediated together; each batch observes EC2 afresh. */
  readonly batchSize?: number;
  readonly now?: () => number;
}

/**
 * How long after its stop or termination was asked for an instance is node-loss's: a sweep that
 * finds work left on a younger one may be racing node-loss (EC2's catch-up, the shutdown watch,
 * Lambda's retries a minute or two apart), and counts it as no missed event.
 */
export const eventsMissedAfterMs = 10 * 60_000;

/**
 * Whether the sweep's work on this instance is work the events missed: it remediated an
 * instance whose stop or termination is older than `eventsMissedAfterMs`, or that EC2 has
 * forgotten (a terminated instance stays visible for about an hour).
 */
export function missedByEvents(report: InstanceReport, now: number): boolean {
  if (report.outcome !== 'remediated') return false;
  const asked = report.stateChangeRequestedAt;
  if (asked === undefined) return report.state === 'gone';
  return now - Date.parse(asked) >= eventsMissedAfterMs;
}

/** States whose node will not come back on its own: its attachments are stale. */
const staleStates = new Set<InstanceState>(['terminated', 'stopped', 'gone']);

export async function sweepCluster(
  deps: ExecutionDeps,
  settings: RemediationSettings,
  options: SweepOptions = {},
): Promise<SweepReport> {
  const now = options.now ?? Date.now;
  const started = now();
  const batchSize = options.batchSize ?? 20;
  const [nodes, allAttachments] = await Promise.all([
    deps.kube.listNodes(settings.nodeSelector),
    deps.kube.listVolumeAttachments(),
  ]);
  const instanceOfNode = new Map(
    nodes.map((node) => [node.name, instanceIdFromProviderId(node.providerId)]),
  );
  // With a node selector, only the selected Nodes' attachments are this sweep's business.
  const attachments = allAttachments.filter(
    (a) => isEbsAttacher(a.attacher) && (!settings.nodeSelector || instanceOfNode.has(a.nodeName)),
  );

  const { attachmentsByInstance, unresolvedAttachments } = byInstance(attachments, instanceOfNode);

  // Nodes that carry our out-of-service taint: lifted once EC2 reports their instance running
  // again, since the `running` event that would lift it may have been missed.
  const taintedNodes = nodes.flatMap((node) => {
    const instanceId = instanceIdFromProviderId(node.providerId);
    return instanceId && node.taints.some((t) => isOurOutOfServiceTaint(t))
      ? [{ instanceId, ready: node.ready === true }]
      : [];
  });
  const tainted = taintedNodes.map((t) => t.instanceId);
  const instanceIds = [...attachmentsByInstance.keys()];
  // States only: the planner describes the stale ones in full before any action.
  const states = await deps.ec2.instanceStates([...new Set([...instanceIds, ...tainted])]);
  const isStale = (id: string) => {
    const state = states.get(id) ?? 'gone';
    if (state === 'stopped' && settings.onStopped === 'ignore') return false;
    return staleStates.has(state);
  };
  const staleWithAttachments = instanceIds.filter(isStale);
  // A Node we tainted whose instance is dead but which reports Ready: another instance's
  // kubelet may have adopted it under the dead one's name; its plan lifts the taint if so.
  const stale = [
    ...staleWithAttachments,
    ...taintedNodes
      .filter((t) => t.ready && isStale(t.instanceId) && !attachmentsByInstance.has(t.instanceId))
      .map((t) => t.instanceId),
  ];

  // Our taint comes off the Nodes of instances that run again before anything else: on a
  // running node it evicts every pod scheduled there, so it waits for no batch and no deadline.
  const running = tainted.filter((id) => states.get(id) === 'running');
  const lifted =
    running.length > 0
      ? (await liftOutOfServiceTaints(running, deps, settings)).filter((r) => r.actions.length > 0)
      : [];

  // What users see before the sweep frees it: pods on live Nodes waiting for a held volume.
  const staleIds = new Set(staleWithAttachments);
  const stuckPods = await podsStuckBehind(
    attachments.flatMap((attachment) => {
      const instanceId = instanceOf(attachment, instanceOfNode);
      return instanceId && staleIds.has(instanceId) ? [{ attachment, instanceId }] : [];
    }),
    nodes,
    deps.kube,
  );

  const snapshot = { nodes, attachments };
  const reports: InstanceReport[] = [];
  const deferred: string[] = [];
  // The circuit breaker is decided for the whole sweep before its first action; each batch
  // then observes EC2 afresh and spends what is left of the allowance.
  const wholeSweep =
    stale.length > 0
      ? await planInstances(stale, deps, settings, { kubernetesSnapshot: snapshot })
      : [];
  const refusal = wholeSweep.find(
    (plan) => plan.outcome === 'refused' && plan.refusedBy === 'circuit-breaker',
  );
  if (refusal && refusal.outcome === 'refused') {
    reports.push(...refuseSweep(wholeSweep, refusal.reason, deps, settings.dryRun));
  } else {
    let allowance = settings.maxActionsPerInvocation;
    for (let i = 0; i < stale.length; i += batchSize) {
      if (options.deadline !== undefined && now() >= options.deadline) {
        deferred.push(...stale.slice(i));
        break;
      }
      const batchReports = await remediateInstances(
        stale.slice(i, i + batchSize),
        deps,
        { ...settings, maxActionsPerInvocation: Math.max(allowance, 0) },
        { kubernetesSnapshot: snapshot },
      );
      reports.push(...batchReports);
      allowance -= destructiveActionsTaken(batchReports.flatMap((r) => r.actions));
    }
  }

  const sweptAt = now();
  const eventsMissed = reports.filter((r) => missedByEvents(r, sweptAt)).length;
  reports.push(...lifted);

  const actions = reports.flatMap((r) => r.actions);
  const staleSet = new Set(stale);
  return {
    complete: deferred.length === 0,
    dryRun: settings.dryRun,
    nodesExamined: nodes.length,
    attachmentsExamined: attachments.length,
    instancesExamined: instanceIds.length,
    staleInstances: staleWithAttachments.length,
    eventsMissed,
    staleAttachments: [...attachmentsByInstance]
      .filter(([id]) => staleSet.has(id))
      .reduce((sum, [, names]) => sum + names.length, 0),
    unresolvedAttachments,
    stuckPods,
    instances: reports,
    deferred,
    summary: {
      volumesDetached: volumesDetached(actions),
      attachmentsDeleted: attachmentsDeleted(actions),
      refusals: reports.filter((r) => r.outcome === 'refused').length,
      failures: actions.filter((a) => a.outcome === 'failed').length,
    },
    elapsedMs: now() - started,
  };
}

/** The instance a VolumeAttachment binds its volume to: its Node's, or the attacher's node id. */
function instanceOf(
  attachment: AttachmentFacts,
  instanceOfNode: ReadonlyMap<string, string | undefined>,
): string | undefined {
  const annotated = attachment.nodeIdAnnotation;
  return (
    instanceOfNode.get(attachment.nodeName) ??
    (annotated && isInstanceId(annotated) ? annotated : undefined)
  );
}

/**
 * The EBS CSI VolumeAttachments by the instance they bind a volume to: the instance of their
 * Node, or the one the attacher's node-id annotation names; those of neither are unresolved.
 */
function byInstance(
  attachments: readonly AttachmentFacts[],
  instanceOfNode: ReadonlyMap<string, string | undefined>,
): { attachmentsByInstance: Map<string, string[]>; unresolvedAttachments: string[] } {
  const attachmentsByInstance = new Map<string, string[]>();
  const unresolvedAttachments: string[] = [];
  for (const attachment of attachments) {
    const instanceId = instanceOf(attachment, instanceOfNode);
    if (!instanceId) {
      unresolvedAttachments.push(attachment.name);
      continue;
    }
    attachmentsByInstance.set(instanceId, [
      ...(attachmentsByInstance.get(instanceId) ?? []),
      attachment.name,
    ]);
  }
  return { attachmentsByInstance, unresolvedAttachments };
}

/**
 * The plans of a sweep the circuit breaker refused, as reported (nothing done), each refusal
 * also written on its Node as node-loss writes its own: `kubectl describe node` says why the
 * sweep left it (a breaker that trips on every sweep aggregates like any Event).
 */
function refuseSweep(
  plans: readonly InstancePlan[],
  reason: string,
  deps: ExecutionDeps,
  dryRun: boolean,
): InstanceReport[] {
  return plans.map((plan) => {
    const report = refusedReport(plan, reason, dryRun);
    if (report.outcome === 'refused' && plan.node) {
      deps.events?.record(
        refusedEvent(plan.node, report.refusedBy ?? 'refused', report.reason ?? ''),
      );
    }
    return report;
  });
}

/** A plan of a sweep the circuit breaker refused, as reported: nothing done. */
function refusedReport(plan: InstancePlan, reason: string, dryRun: boolean): InstanceReport {
  const refusedBy = plan.outcome === 'remediate' ? 'circuit-breaker' : plan.refusedBy;
  return {
    instanceId: plan.instanceId,
    ...(plan.nodeName ? { nodeName: plan.nodeName } : {}),
    state: plan.state,
    outcome: plan.outcome === 'remediate' ? 'refused' : plan.outcome,
    reason: plan.outcome === 'remediate' ? reason : plan.reason,
    ...(refusedBy ? { refusedBy } : {}),
    dryRun,
    actions: [],
    skipped: [],
  };
}
