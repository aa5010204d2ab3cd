/**
 * The Kubernetes Events the remediator writes (`events.k8s.io/v1`), as the node lifecycle
 * controller and Karpenter do: on the object acted on, a CamelCase reason, a note that names the
 * evidence. An action's Event is its row in the action catalogue (actions.ts); these are the
 * Events that are not one action's. README's Events table is written from both.
 *
 * Constants only.
 */

/** `reportingController` of every Event: what `kubectl get events` shows as its source. */
export const eventReportingController = 'ebs-volume-remediator';

/** The kinds of object the remediator writes Events on. */
export type EventObjectKind = 'Node' | 'Pod' | 'VolumeAttachment';

/** An Event the remediator writes: its reason, the object it is on, and when. */
export interface EventRow {
  readonly reason: string;
  readonly on: EventObjectKind;
  /** Warning for what an operator should look at; Normal otherwise. */
  readonly type: 'Normal' | 'Warning';
  /** When it is written: README's table. */
  readonly when: string;
}

/** The Events that are not one action's. */
export const reportEvents = {
  instanceStopped: {
    reason: 'InstanceStopped',
    on: 'Node',
    type: 'Normal',
    when: "EC2 reports the Node's instance stopped (with EC2's state reason): its volumes are about to be released",
  },
  instanceTerminated: {
    reason: 'InstanceTerminated',
    on: 'Node',
    type: 'Normal',
    when: "EC2 reports the Node's instance terminated (with EC2's state reason): its volumes are about to be released",
  },
  instanceGone: {
    reason: 'InstanceGone',
    on: 'Node',
    type: 'Normal',
    when: "EC2 no longer knows the Node's instance and the Node agrees: its volumes are about to be released",
  },
  refused: {
    reason: 'RemediationRefused',
    on: 'Node',
    type: 'Warning',
    when: 'a safety rule refused to act on the instance of this Node (the note names the rule and why)',
  },
  failed: {
    reason: 'RemediationFailed',
    on: 'Node',
    type: 'Warning',
    when: 'an action of the remediation failed; the function is retried (the note names what failed)',
  },
  podRecovered: {
    reason: 'PodRecovered',
    on: 'Pod',
    type: 'Normal',
    when: "the replacement of a pod evicted from a dead Node runs, its volumes attached (the note says how long after the instance's death)",
  },
  podNotRecovered: {
    reason: 'PodNotRecoveredYet',
    on: 'Pod',
    type: 'Warning',
    when: 'the replacement (or, without one, the evicted pod) does not run by the end of `RECOVERY_WATCH_SECONDS` (the note says what it waits on)',
  },
  fenceRefused: {
    reason: 'FenceRefused',
    on: 'Node',
    type: 'Warning',
    when: 'with fencing on, a hung Node was not fenced (the note names the rule: partition, rate limit, control plane, opted out, Lease renewed)',
  },
} as const satisfies Record<string, EventRow>;
