/**
 * The Kubernetes Events of a remediation that are not one action's (those are the action
 * catalogue's, written by the recorder): on the Node, what EC2 said of its instance before the
 * remediation acted, a refusal and why, a failure and what failed. Pure.
 */
import { type EventRow, reportEvents } from '../contract/kubernetes-events.ts';
import type { ActionRecord, PodRecovery } from '../contract/result-events.ts';
import type { InstanceState } from './facts.ts';
import type { ObjectEvent, ObjectRef } from './ports.ts';
import { type NodeRef, nodeObject, type PodRef, podObject } from './refs.ts';

function eventOn(regarding: ObjectRef, row: EventRow, action: string, note: string): ObjectEvent {
  return { regarding, reason: row.reason, type: row.type, action, note };
}

const onNode = (node: NodeRef, row: EventRow, action: string, note: string) =>
  eventOn(nodeObject(node), row, action, note);

const offEvents: ReadonlyMap<InstanceState, EventRow> = new Map<InstanceState, EventRow>([
  ['stopped', reportEvents.instanceStopped],
  ['terminated', reportEvents.instanceTerminated],
  ['gone', reportEvents.instanceGone],
]);

/** What EC2 said of the instance, as the evidence the remediation acts on. */
export function instanceOffEvent(
  node: NodeRef,
  instance: {
    readonly instanceId: string;
    readonly state: InstanceState;
    readonly stateReasonCode?: string;
    readonly stateChangeRequestedAt?: number;
  },
): ObjectEvent | undefined {
  const row = offEvents.get(instance.state);
  if (!row) return undefined;
  const { instanceId, state, stateReasonCode, stateChangeRequestedAt } = instance;
  const evidence =
    state === 'gone'
      ? `EC2 no longer knows instance ${instanceId} (InvalidInstanceID.NotFound) and its Node shows no sign of life`
      : `EC2 reports instance ${instanceId} ${state}`;
  const why = [
    stateReasonCode,
    stateChangeRequestedAt === undefined
      ? undefined
      : `asked for at ${new Date(stateChangeRequestedAt).toISOString()}`,
  ].filter((part) => part !== undefined);
  return onNode(
    node,
    row,
    'VerifyInstance',
    `${evidence}${why.length > 0 ? ` (${why.join(', ')})` : ''}: releasing its volumes`,
  );
}

/** A safety rule refused to act. */
export function refusedEvent(node: NodeRef, refusedBy: string, reason: string): ObjectEvent {
  return onNode(node, reportEvents.refused, 'Remediate', `refused (${refusedBy}): ${reason}`);
}

/** An action failed; the function is retried. */
export function failedEvent(
  node: NodeRef,
  instanceId: string,
  actions: readonly ActionRecord[],
): ObjectEvent {
  const failed = actions
    .filter((a) => a.outcome === 'failed')
    .map((a) => `${a.action}: ${a.detail ?? 'failed'}`);
  return onNode(
    node,
    reportEvents.failed,
    'Remediate',
    `remediating instance ${instanceId}, ${failed.length} action(s) failed; retried: ${failed.join('; ')}`,
  );
}

/** An evicted pod's replacement runs: the time to recover. */
export function recoveredEvent(
  pod: Pick<PodRef, 'namespace' | 'name' | 'uid'>,
  recovery: PodRecovery,
  instance: { readonly instanceId: string; readonly state: InstanceState },
): ObjectEvent {
  const after =
    recovery.secondsToRecover === undefined
      ? ''
      : `, ${recovery.secondsToRecover} s after instance ${instance.instanceId} was ${instance.state}`;
  return eventOn(
    podObject(pod),
    reportEvents.podRecovered,
    'WatchRecovery',
    `replaces ${recovery.pod}, whose Node's instance died: Running on ${recovery.node ?? 'a live Node'}${after}`,
  );
}

/** An evicted pod's replacement does not run by the end of the watch. */
export function notRecoveredEvent(
  pod: Pick<PodRef, 'namespace' | 'name' | 'uid'>,
  recovery: PodRecovery,
): ObjectEvent {
  return eventOn(
    podObject(pod),
    reportEvents.podNotRecovered,
    'WatchRecovery',
    `${recovery.pod} not recovered by the end of the watch: ${recovery.waitingOn ?? 'unknown'}`,
  );
}

/** A hung Node was not fenced. */
export function fenceRefusedEvent(node: NodeRef, refusedBy: string, reason: string): ObjectEvent {
  return onNode(node, reportEvents.fenceRefused, 'Fence', `not fenced (${refusedBy}): ${reason}`);
}
