/**
 * Whether a Node shows life: the kubelet's Lease and Ready heartbeat, read against when the
 * instance died. A Node is matched to its instance by providerID, but its name (the private DNS
 * name) can be taken over by a new instance, and "gone" is EC2's word for one account and
 * Region only.
 */
import type { NodeFacts, Observation } from './facts.ts';

/** How far the clocks of EC2, EventBridge (whole seconds) and a kubelet may disagree. */
const clockSkewMs = 2_000;

/** A kubelet's Lease lasts 40 s and is renewed every 10 s: one not renewed for 40 s is stale. */
export const leaseDurationMs = 40_000;

/** kube-controller-manager's --node-monitor-grace-period (50 s since 1.32): then NotReady. */
const nodeMonitorGracePeriodMs = 50_000;

/**
 * Whether the Node of an instance EC2 does not know still reports, as the node lifecycle
 * controller judges it: its Lease renewed within the node-monitor grace period, or, without a
 * Lease, its Ready condition True. "Gone" proves only that this account and Region do not see
 * the instance (a node of another account in a shared VPC, a providerID in another form).
 */
export function stillReporting(
  node: NodeFacts,
  observedAt: number | undefined,
): string | undefined {
  const renewed = node.leaseRenewedAt;
  if (renewed === undefined) return node.ready ? 'it has no Lease and reports Ready' : undefined;
  if (observedAt === undefined || observedAt - renewed >= nodeMonitorGracePeriodMs)
    return undefined;
  return `its Lease was renewed at ${iso(renewed)}, ${Math.round((observedAt - renewed) / 1000)} s before it was read`;
}

const iso = (at: number) => new Date(at).toISOString();

/**
 * Why a Node shows life after its instance died, if it does. A Node names its instance by the
 * immutable providerID, and its name is the instance's private DNS name, which EC2 gives again
 * to a new instance once the IP is reused; without a cloud node lifecycle, that instance's
 * kubelet adopts the Node left behind. A kubelet that reported after the death is a stranger's.
 */
export function signOfLife(
  node: NodeFacts,
  observation: Pick<Observation, 'instance' | 'diedAt' | 'observedAt'>,
): string | undefined {
  const { instance, diedAt, observedAt } = observation;
  const renewed = node.leaseRenewedAt;
  if (diedAt !== undefined) {
    // The event says when the instance was stopped or terminated: none of its kubelets ran after.
    const after = (at: number | undefined): at is number =>
      at !== undefined && at > diedAt + clockSkewMs;
    const died = `after the instance was ${instance.state} (${iso(diedAt)})`;
    if (after(renewed)) return `its Lease was renewed at ${iso(renewed)}, ${died}`;
    const heartbeat = node.readyHeartbeatAt;
    if (after(heartbeat)) return `it reported Ready at ${iso(heartbeat)}, ${died}`;
    if (instance.state !== 'gone') return undefined;
  }
  // Without the event's time, only when the stop or termination was asked for is known, and a
  // kubelet runs on while its instance shuts down: a renewal after it proves another kubelet
  // only while the Lease is current (a dead kubelet's is stale within 40 s). "Gone" is EC2's
  // word for this account and Region only: a current Lease says the Node lives elsewhere.
  const since = instance.stateChangeRequestedAt ?? Number.NEGATIVE_INFINITY;
  if (
    renewed !== undefined &&
    observedAt !== undefined &&
    renewed > since + clockSkewMs &&
    observedAt - renewed < leaseDurationMs
  ) {
    const asked =
      instance.stateChangeRequestedAt === undefined
        ? ''
        : `, after the instance's ${instance.state === 'stopped' ? 'stop' : 'termination'} was asked for (${iso(instance.stateChangeRequestedAt)})`;
    return `its Lease was renewed at ${iso(renewed)}, ${Math.round((observedAt - renewed) / 1000)} s before it was read${asked}`;
  }
  return undefined;
}
