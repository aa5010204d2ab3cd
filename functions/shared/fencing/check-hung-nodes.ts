/**
 * The fence check: finds the cluster's hung nodes, decides which may be fenced (hung-nodes.ts),
 * fences them one by one (re-reading the Lease and EC2 right before), then recovers each as a
 * stopped (or terminated) node: the same remediation an EC2 event starts, observed afresh once
 * EC2 reports the instance off. The fence is not one of the remediation's stages: those act on an
 * instance EC2 reports off and plan from one observation of it, and the fence is what makes that
 * observation true.
 */
import type { Config } from '../config.ts';
import type { FenceEvidence, FenceReport } from '../contract/result-events.ts';
import { instanceIdFromProviderId } from '../identity/aws-ids.ts';
import type { ExecutionDeps } from '../remediation/execute.ts';
import type { InstanceFacts, NodeFacts } from '../remediation/facts.ts';
import { leaseDurationMs } from '../remediation/liveness.ts';
import { nodeOfInstance, taggedForCluster } from '../remediation/matching.ts';
import { Recorder } from '../remediation/recorder.ts';
import { nodeObject, refOf } from '../remediation/refs.ts';
import { type RemediationSettings, remediateInstances } from '../remediation/remediate.ts';
import { fenceRefusedEvent } from '../remediation/report-events.ts';
import type { FencePort, StatusChecks } from './fence-port.ts';
import { type ClusterView, decideFences, type HungNode, isHung, isSilent } from './hung-nodes.ts';

export type FenceCheckSettings = RemediationSettings &
  Pick<Config, 'fenceAfterMs' | 'fenceAction' | 'maxFences' | 'fenceWindowMs'>;

export interface FenceDeps extends ExecutionDeps {
  readonly fence: FencePort;
}

export interface FenceCheckRequest {
  /**
   * Instances an alarm named (an EC2 status check): judged at once, fenced as soon as their Node
   * agrees (NotReady, its Lease expired), without waiting `FENCE_AFTER_SECONDS`.
   */
  readonly instanceIds?: readonly string[];
}

/** What one check found and did. */
export interface FenceCheckReport {
  readonly nodesExamined: number;
  readonly notReady: number;
  /** One per hung node (and per instance an alarm named): fenced, refused, not hung. */
  readonly reports: readonly FenceReport[];
}

/** How long a fenced instance is watched for stopped (terminated), within the invocation's time. */
const fenceWatchMs = 10 * 60_000;

const iso = (at: number | undefined) => (at === undefined ? undefined : new Date(at).toISOString());

function evidenceOf(
  node: NodeFacts | undefined,
  instance: InstanceFacts | undefined,
  checks: StatusChecks | undefined,
): FenceEvidence {
  const notReadySince = iso(node?.notReadySince);
  const leaseRenewedAt = iso(node?.leaseRenewedAt);
  return {
    ...(notReadySince ? { notReadySince } : {}),
    ...(leaseRenewedAt ? { leaseRenewedAt } : {}),
    ...(instance ? { instanceState: instance.state } : {}),
    ...(checks ? { statusChecks: checks } : {}),
  };
}

/** The Nodes with when their Lease was last renewed: one list of kube-node-lease. */
async function withLeases(nodes: readonly NodeFacts[], deps: FenceDeps): Promise<NodeFacts[]> {
  const renewals = await deps.kube.listNodeLeaseRenewals();
  return nodes.map((node) => {
    const renewed = renewals.get(node.name);
    return renewed === undefined ? node : { ...node, leaseRenewedAt: renewed };
  });
}

/** Fences of the cluster's instances within the window: the rate limit's count. */
async function recentFences(
  deps: FenceDeps,
  settings: FenceCheckSettings,
  clusterNodes: readonly NodeFacts[],
  now: number,
): Promise<number> {
  const ofCluster = new Set(clusterNodes.map((n) => instanceIdFromProviderId(n.providerId)));
  const fenced = await deps.fence.fencedInstances();
  return fenced.filter(
    (f) =>
      f.fencedAt > now - settings.fenceWindowMs &&
      (taggedForCluster(f.tags, settings.clusterName) || ofCluster.has(f.instanceId)),
  ).length;
}

function notHung(
  instanceId: string,
  node: NodeFacts | undefined,
  reason: string,
  settings: FenceCheckSettings,
): FenceReport {
  return {
    instanceId,
    ...(node ? { nodeName: node.name } : {}),
    outcome: 'not-hung',
    reason,
    fenceAction: settings.fenceAction,
    evidence: evidenceOf(node, undefined, undefined),
    dryRun: settings.dryRun,
    actions: [],
  };
}

/** Why a Node an alarm named is not hung (yet), in words. */
function whyNotHung(node: NodeFacts, now: number): string {
  if (node.ready !== false) return `its Node ${node.name} reports Ready: not hung, not fenced`;
  if (node.leaseRenewedAt === undefined)
    return `its Node ${node.name} is NotReady but has no Lease to judge by: not fenced`;
  const ago = Math.round((now - node.leaseRenewedAt) / 1000);
  return `its Node ${node.name} is NotReady, but its Lease was renewed ${ago} s ago: its kubelet lives; not fenced`;
}

/**
 * The Nodes of the instances an alarm named, and a `not-hung` report for each instance that has
 * no Node or whose Node is not hung.
 */
function alarmCandidates(
  instanceIds: readonly string[],
  nodes: readonly NodeFacts[],
  now: number,
  hungAfterMs: number,
  settings: FenceCheckSettings,
): { candidates: NodeFacts[]; reports: FenceReport[] } {
  const candidates: NodeFacts[] = [];
  const reports: FenceReport[] = [];
  for (const id of instanceIds) {
    const node = nodeOfInstance(nodes, id);
    if (!node) {
      reports.push(
        notHung(id, undefined, 'no Node of the cluster names the instance: not fenced', settings),
      );
    } else if (!isHung(node, now, hungAfterMs)) {
      reports.push(notHung(id, node, whyNotHung(node, now), settings));
    } else {
      candidates.push(node);
    }
  }
  return { candidates, reports };
}

/**
 * Looks for hung nodes and fences those the rules allow. With no NotReady Node (the usual
 * minute), it costs one Node list and nothing else; with one, a Lease list and EC2's word on
 * the hung ones.
 */
export async function checkHungNodes(
  deps: FenceDeps,
  settings: FenceCheckSettings,
  request: FenceCheckRequest = {},
): Promise<FenceCheckReport> {
  const nodes = await deps.kube.listNodes(settings.nodeSelector);
  const notReady = nodes.filter((node) => node.ready === false);
  const named = request.instanceIds;
  const empty = { nodesExamined: nodes.length, notReady: notReady.length, reports: [] };
  if (!named && notReady.length === 0) return empty;

  const now = Date.now();
  // An alarm is EC2's own word that something is wrong: the Node agreeing is enough.
  const hungAfterMs = named ? leaseDurationMs : settings.fenceAfterMs;
  const leased = await withLeases(nodes, deps);
  const { candidates, reports } = named
    ? alarmCandidates(named, leased, now, hungAfterMs, settings)
    : { candidates: leased.filter((node) => node.ready === false), reports: [] };
  const hungNodes = candidates.filter((node) => isHung(node, now, hungAfterMs));
  if (hungNodes.length === 0) return { ...empty, reports };

  const ids = hungNodes.map((node) => instanceIdFromProviderId(node.providerId) ?? '');
  const [instances, checks, fences] = await Promise.all([
    deps.ec2.describeInstances(ids.filter(Boolean)),
    deps.fence.statusChecks(ids.filter(Boolean)),
    recentFences(deps, settings, nodes, now),
  ]);
  const hung: HungNode[] = hungNodes.flatMap((node, i) => {
    const instance = instances.get(ids[i] ?? '');
    return instance ? [{ node, instance }] : [];
  });
  const cluster: ClusterView = {
    nodes: nodes.length,
    silent: leased.filter((node) => isSilent(node, now)).length,
    recentFences: fences,
  };
  const decisions = decideFences(hung, cluster, {
    hungAfterMs,
    maxDeadNodePercent: settings.maxDeadNodePercent,
    maxFences: settings.maxFences,
  });
  // One at a time: each fence is counted against the rate limit before the next.
  for (const decision of decisions) {
    const evidence = evidenceOf(
      decision.node,
      decision.instance,
      checks.get(decision.instance.instanceId),
    );
    const report = await carryOut(decision, evidence, hungAfterMs, deps, settings);
    if (report.outcome === 'refused' && report.refusedBy) {
      deps.events?.record(fenceRefusedEvent(refOf(decision.node), report.refusedBy, report.reason));
    }
    reports.push(report);
  }
  return { nodesExamined: nodes.length, notReady: notReady.length, reports };
}

async function carryOut(
  decision: ReturnType<typeof decideFences>[number],
  evidence: FenceEvidence,
  hungAfterMs: number,
  deps: FenceDeps,
  settings: FenceCheckSettings,
): Promise<FenceReport> {
  const { node, instance, verdict } = decision;
  const about = {
    instanceId: instance.instanceId,
    nodeName: node.name,
    fenceAction: settings.fenceAction,
    evidence,
    dryRun: settings.dryRun,
  };
  if (verdict.kind === 'not-hung') {
    return { ...about, outcome: 'not-hung', reason: verdict.reason, actions: [] };
  }
  if (verdict.kind === 'refused') {
    return {
      ...about,
      outcome: 'refused',
      refusedBy: verdict.rule,
      reason: verdict.reason,
      actions: [],
    };
  }
  const fenced = await fence(node, instance, hungAfterMs, deps, settings);
  if (fenced.outcome !== 'fenced') return { ...about, ...fenced };
  const [recovery] = await remediateInstances(
    [instance.instanceId],
    deps,
    // The remediator stopped it itself, forced: not a hibernation, and not to be ignored.
    { ...settings, onStopped: 'remediate', onStoppedHibernationCapable: 'remediate' },
    {
      awaiting: {
        state: settings.fenceAction === 'stop' ? 'stopped' : 'terminated',
        announced: false,
        timeoutMs: fenceWatchMs,
      },
    },
  );
  return { ...about, ...fenced, ...(recovery ? { recovery } : {}) };
}

type FenceEnd = Pick<FenceReport, 'outcome' | 'reason' | 'refusedBy' | 'actions'>;

/** The fence itself, after the last re-reads: the Lease, then EC2. */
async function fence(
  node: NodeFacts,
  instance: InstanceFacts,
  hungAfterMs: number,
  deps: FenceDeps,
  settings: FenceCheckSettings,
): Promise<FenceEnd> {
  const { instanceId } = instance;
  const recorder = new Recorder(instanceId, deps);
  let end: Omit<FenceEnd, 'actions'> | undefined;
  const target = { node: node.name, regarding: nodeObject(refOf(node)) };
  const record = await recorder.run('fence-instance', target, async () => {
    if (settings.dryRun) return { outcome: 'planned' };
    const renewed = await deps.kube.readNodeLeaseRenewal(node.name);
    if (!isHung({ ...node, leaseRenewedAt: renewed }, Date.now(), hungAfterMs)) {
      const reason = `its Lease was renewed at ${iso(renewed) ?? 'an unknown time'} when read again right before the fence: its kubelet lives; not fenced`;
      end = { outcome: 'refused', refusedBy: 'lease-renewed', reason };
      return { outcome: 'refused', detail: reason };
    }
    const now = (await deps.ec2.describeInstances([instanceId])).get(instanceId);
    if (now?.state !== 'running') {
      const reason = `EC2 now reports the instance ${now?.state ?? 'gone'}: not fenced; its own state-change event recovers it`;
      end = { outcome: 'not-hung', reason };
      return { outcome: 'refused', detail: reason };
    }
    // The tag first: a fence whose call fails half way still counts against the rate limit.
    await deps.fence.markFenced(instanceId, Date.now());
    if ((await deps.fence.fence(instanceId, settings.fenceAction)) === 'not-running') {
      const reason = 'EC2 refused: the instance is no longer running; not fenced';
      end = { outcome: 'not-hung', reason };
      return { outcome: 'refused', detail: reason };
    }
    const how = settings.fenceAction === 'stop' ? 'StopInstances (Force)' : 'TerminateInstances';
    return { outcome: 'done', detail: `${how}: Node ${node.name} hung` };
  });
  const actions = recorder.records;
  if (end) return { ...end, actions };
  switch (record.outcome) {
    case 'planned':
      return { outcome: 'dry-run', reason: record.detail ?? 'would fence', actions };
    case 'done':
      return {
        outcome: 'fenced',
        reason: `Node ${node.name} hung while EC2 said running: ${settings.fenceAction === 'stop' ? 'stopped' : 'terminated'}`,
        actions,
      };
    default:
      return { outcome: 'failed', reason: record.detail ?? 'the fence failed', actions };
  }
}
