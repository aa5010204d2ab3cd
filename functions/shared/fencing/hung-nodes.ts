/**
 * Which Nodes are hung, and which of them may be fenced: pure. A hung node is dead while EC2
 * says its instance runs (a kernel hang, a dead kubelet, a partition): its Node NotReady and its
 * Lease not renewed. Fencing powers it off, which KEP-2268 asks for before the out-of-service
 * taint; the rules below keep it from powering off what may be fine.
 */
import type { FenceRefusalRule } from '../contract/result-events.ts';
import type { InstanceFacts, NodeFacts } from '../remediation/facts.ts';

/** The settings the fence decisions read. */
export interface FenceRules {
  /** How long the Lease of a NotReady Node must be stale before it is fenced. */
  readonly hungAfterMs: number;
  readonly maxDeadNodePercent: number;
  readonly maxFences: number;
}

/**
 * How long the Node's kubelet has been silent, when the Node is NotReady (Ready Unknown or
 * False) and has a Lease to judge by; undefined otherwise. A NotReady Node whose Lease is fresh
 * has a live kubelet (it reports NotReady itself: a CNI not ready, pressure): never hung.
 */
export function silentForMs(node: NodeFacts, now: number): number | undefined {
  if (node.ready !== false || node.leaseRenewedAt === undefined) return undefined;
  return now - node.leaseRenewedAt;
}

/**
 * A Lease not renewed for this long has missed two renewals (a kubelet renews every 10 s): its
 * kubelet has gone silent, though the node lifecycle controller marks the Node NotReady only
 * at 50 s. A partition silences many kubelets at one moment, but their last renewals spread
 * over 10 s and their NotReady over 15 s more: counted by this, they are all seen together by
 * the time the first of them is hung.
 */
export const silentAfterMs = 20_000;

/** Whether the Node's kubelet has gone silent: NotReady, or its Lease two renewals late. */
export function isSilent(node: NodeFacts, now: number): boolean {
  return (
    node.ready === false ||
    (node.leaseRenewedAt !== undefined && now - node.leaseRenewedAt >= silentAfterMs)
  );
}

/** Whether the Node is hung: NotReady, and its Lease not renewed for `hungAfterMs`. */
export function isHung(node: NodeFacts, now: number, hungAfterMs: number): boolean {
  const silent = silentForMs(node, now);
  return silent !== undefined && silent >= hungAfterMs;
}

/** A hung Node and EC2's word on its instance. */
export interface HungNode {
  readonly node: NodeFacts;
  readonly instance: InstanceFacts;
}

export type FenceVerdict =
  | { readonly kind: 'fence' }
  | { readonly kind: 'refused'; readonly rule: FenceRefusalRule; readonly reason: string }
  | { readonly kind: 'not-hung'; readonly reason: string };

/** What the cluster looks like as a whole, for the rules that read it. */
export interface ClusterView {
  /** The Nodes looked at (the node selector's). */
  readonly nodes: number;
  /** Those whose kubelet has gone silent (`isSilent`). */
  readonly silent: number;
  /** Fences of the cluster's instances within the rate limit's window. */
  readonly recentFences: number;
}

function partitionReason(cluster: ClusterView, rules: FenceRules): string | undefined {
  if (cluster.nodes === 0) return undefined;
  const percent = (cluster.silent * 100) / cluster.nodes;
  if (percent <= rules.maxDeadNodePercent) return undefined;
  return (
    `${cluster.silent} of ${cluster.nodes} Nodes are NotReady or silent at once (${Math.round(percent)}%, ` +
    `more than MAX_DEAD_NODE_PERCENT ${rules.maxDeadNodePercent}%): a partition of the control plane ` +
    'or of a zone, not a node; nothing is fenced'
  );
}

/** The verdict on one hung node by its own facts, before the cluster-wide rules. */
function ownVerdict({ node, instance }: HungNode): FenceVerdict | undefined {
  if (instance.state !== 'running') {
    return {
      kind: 'not-hung',
      reason: `EC2 reports the instance ${instance.state}: not running, so not fenced; its own state-change event recovers it`,
    };
  }
  if (node.controlPlane) {
    return {
      kind: 'refused',
      rule: 'control-plane',
      reason: `Node ${node.name} is a control-plane Node: never fenced`,
    };
  }
  if (node.fenceOptOut) {
    return {
      kind: 'refused',
      rule: 'opted-out',
      reason: `Node ${node.name} is annotated ebs-volume-remediator/fence: "false": never fenced`,
    };
  }
  return undefined;
}

/**
 * The verdict on each hung node, longest silent first: the rate limit lets the longest-hung
 * through. Pure.
 */
export function decideFences(
  hung: readonly HungNode[],
  cluster: ClusterView,
  rules: FenceRules,
): Array<HungNode & { readonly verdict: FenceVerdict }> {
  const partition = partitionReason(cluster, rules);
  let fences = cluster.recentFences;
  const oldestFirst = [...hung].sort(
    (a, b) => (a.node.leaseRenewedAt ?? 0) - (b.node.leaseRenewedAt ?? 0),
  );
  return oldestFirst.map((candidate) => {
    const own = ownVerdict(candidate);
    if (own) return { ...candidate, verdict: own };
    if (partition) {
      return { ...candidate, verdict: { kind: 'refused', rule: 'partition', reason: partition } };
    }
    if (fences >= rules.maxFences) {
      const reason =
        `the fence rate limit is reached: ${fences} fence(s) of the cluster within the window ` +
        `(MAX_FENCES ${rules.maxFences} per FENCE_WINDOW_SECONDS); not fenced`;
      return { ...candidate, verdict: { kind: 'refused', rule: 'rate-limit', reason } };
    }
    fences += 1;
    return { ...candidate, verdict: { kind: 'fence' } };
  });
}
