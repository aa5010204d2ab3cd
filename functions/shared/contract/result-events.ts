/**
 * The public contract of the result events the functions send to EventBridge, exported by the
 * package for rules and consumers written against them. Fields are only ever added, never
 * renamed or removed, within a major version (CHANGELOG.md).
 *
 * Types and constants only, importing nothing but the action catalogue: the functions build
 * their reports from these types, so the code cannot send what the contract does not say.
 */
import type { ActionKind } from './actions.ts';

/** The `source` of every result event. */
export const resultEventSource = 'ebs-volume-remediator';

/** The `detail-type` of the result event sent for each instance acted on. */
export const resultDetailType = 'EBS Volume Remediation Result';

/** The `detail-type` of the one result event a sweep sends. */
export const sweepResultDetailType = 'EBS Volume Sweep Result';

/** The `detail-type` of the result event of a terminate lifecycle hook. */
export const lifecycleResultDetailType = 'EBS Volume Lifecycle Result';

/** The `detail-type` of the result event sent for each hung node the fence check decided on. */
export const fenceResultDetailType = 'EBS Volume Fence Result';

/** An instance's state as EC2 reports it. */
export type InstanceState =
  | 'pending'
  | 'running'
  | 'stopping'
  | 'stopped'
  | 'shutting-down'
  | 'terminated'
  /** EC2 no longer knows the instance (InvalidInstanceID.NotFound, or gone from DescribeInstances). */
  | 'gone';

// The actions are the catalogue's: one row each (actions.ts).
export type { ActionKind };

/**
 * Which safety rule refused an instance: live-instance (EC2 reports it running or pending);
 * other-region (its Node's zone is not in this function's Region); still-reporting (EC2 does not
 * know it, and its Node still reports); name-taken-over (its Node shows life after the instance
 * died: another instance's kubelet adopted it); circuit-breaker (too much at once).
 */
export type RefusalRule =
  | 'live-instance'
  | 'other-region'
  | 'still-reporting'
  | 'name-taken-over'
  | 'circuit-breaker';

/** One action, as logged, returned and sent in the result event. */
export interface ActionRecord {
  readonly action: ActionKind;
  readonly instanceId: string;
  readonly volumeId?: string;
  readonly volumeAttachment?: string;
  readonly node?: string;
  /** namespace/name of a pod. */
  readonly pod?: string;
  /**
   * done; already-done (an earlier run or someone else did it); planned (dry-run); refused (a
   * re-check right before it found the instance back, or the object not the one observed);
   * failed.
   */
  readonly outcome: 'done' | 'already-done' | 'planned' | 'refused' | 'failed';
  readonly detail?: string;
  readonly durationMs: number;
}

/** A volume or VolumeAttachment of the instance that was left alone, and why. */
export interface Skipped {
  readonly kind: 'volume' | 'volumeattachment';
  readonly name: string;
  readonly reason: string;
}

/** What was decided and done for one instance. */
export interface InstanceReport {
  readonly instanceId: string;
  readonly nodeName?: string;
  readonly state: InstanceState;
  /**
   * When the stop or termination was asked for (ISO 8601), as EC2's StateTransitionReason says,
   * for an instance the stages acted on; absent when EC2 does not say (a gone instance).
   */
  readonly stateChangeRequestedAt?: string;
  /**
   * remediated: something was done; nothing-to-do: all was already done (a replayed event);
   * dry-run: the actions are what would be done; refused: a safety rule stopped it;
   * waiting: the instance is on its way down (stopping, shutting down), a normal step: the
   * event that says it stopped or terminated remediates it; skipped: not this remediator's
   * business; failed: at least one action failed.
   */
  readonly outcome:
    | 'remediated'
    | 'nothing-to-do'
    | 'dry-run'
    | 'refused'
    | 'waiting'
    | 'skipped'
    | 'failed';
  readonly reason?: string;
  /** With outcome refused: the rule that refused it, for rules and code to match on. */
  readonly refusedBy?: RefusalRule;
  readonly dryRun: boolean;
  readonly actions: readonly ActionRecord[];
  readonly skipped: readonly Skipped[];
  /**
   * The pods evicted from its Node that use volumes, followed to their replacement for up to
   * RECOVERY_WATCH_SECONDS after acting: what users wait for.
   */
  readonly recoveries?: readonly PodRecovery[];
}

/** One evicted pod, followed to its replacement. */
export interface PodRecovery {
  /** The evicted pod, as namespace/name. */
  readonly pod: string;
  /**
   * recovered: its replacement runs on a live Node, its volumes attached; not-recovered-yet: not
   * by the end of the watch (`waitingOn` says what it waits on).
   */
  readonly outcome: 'recovered' | 'not-recovered-yet';
  /** The replacement, as namespace/name (a StatefulSet's has the same name). */
  readonly replacement?: string;
  /** The Node the replacement is bound to. */
  readonly node?: string;
  /** When the replacement was Running (ISO 8601). */
  readonly runningAt?: string;
  /**
   * The instance's death the time to recover counts from (ISO 8601): when EC2 says its stop or
   * termination was asked for (StateTransitionReason, to the second), else the time of the
   * state-change event that said it was off.
   */
  readonly diedAt?: string;
  /** Seconds from `diedAt` to `runningAt`; absent when the death's time is not known. */
  readonly secondsToRecover?: number;
  /** With not-recovered-yet: what the replacement (or its absence) waits on. */
  readonly waitingOn?: string;
}

/**
 * Which rule kept a hung node from being fenced: partition (more of the cluster's Nodes NotReady
 * at once than MAX_DEAD_NODE_PERCENT: the control plane or a zone cut off, not a node);
 * rate-limit (MAX_FENCES in FENCE_WINDOW_SECONDS reached); control-plane (a control-plane
 * Node); opted-out (annotated `ebs-volume-remediator/fence: "false"`); lease-renewed (its Lease
 * was renewed when read again right before the fence).
 */
export type FenceRefusalRule =
  | 'partition'
  | 'rate-limit'
  | 'control-plane'
  | 'opted-out'
  | 'lease-renewed';

/** What a hung node was judged on: the Node's word, the Lease's, EC2's. */
export interface FenceEvidence {
  /** When the Node's Ready condition left True (ISO 8601). */
  readonly notReadySince?: string;
  /** When its kubelet last renewed its Lease (ISO 8601). */
  readonly leaseRenewedAt?: string;
  /** EC2's state of the instance when it was judged; absent when the Node alone settled it. */
  readonly instanceState?: InstanceState;
  /**
   * EC2's status checks (DescribeInstanceStatus): `ok`, `impaired`, `insufficient-data`,
   * `initializing` or `not-applicable`. Reported, never required: a dead kubelet passes them.
   */
  readonly statusChecks?: {
    readonly system: string;
    readonly instance: string;
    readonly attachedEbs?: string;
  };
}

/** What was decided and done for one hung node. */
export interface FenceReport {
  readonly instanceId: string;
  /** Its Node: absent only for an instance an alarm named that no Node of the cluster names. */
  readonly nodeName?: string;
  /**
   * fenced: its instance was stopped or terminated, and `recovery` says how its pods and volumes
   * were freed; dry-run: it would have been; refused: a rule kept it (`refusedBy`); not-hung: a
   * closer look (an alarm named it, or a re-read right before the fence) found it is not (its
   * Node reports, or EC2 no longer says running); failed: the fence call failed.
   */
  readonly outcome: 'fenced' | 'dry-run' | 'refused' | 'not-hung' | 'failed';
  readonly reason: string;
  /** With outcome refused: the rule that refused it. */
  readonly refusedBy?: FenceRefusalRule;
  /** FENCE_ACTION: how it was (or would be) fenced. */
  readonly fenceAction: 'stop' | 'terminate';
  readonly evidence: FenceEvidence;
  readonly dryRun: boolean;
  readonly actions: readonly ActionRecord[];
  /** After a fence: the recovery of the instance as a stopped (or terminated) one. */
  readonly recovery?: InstanceReport;
}

/** What started the run, as it appears in each result event. */
export interface Trigger {
  readonly kind: string;
  readonly reason: string;
  readonly eventTime?: string;
}

/** The detail of an "EBS Volume Remediation Result" event: one instance. */
export interface RemediationResultDetail extends InstanceReport {
  readonly clusterName: string;
  readonly trigger: Trigger;
  readonly summary: {
    readonly volumesDetached: number;
    readonly attachmentsDeleted: number;
    readonly podsDeleted: number;
    readonly failures: number;
  };
}

/** A sweep's counts, in its report and its result event. */
export interface SweepSummary {
  /** False when the time budget ran out: `deferred` lists what the next run will pick up. */
  readonly complete: boolean;
  readonly dryRun: boolean;
  readonly nodesExamined: number;
  readonly attachmentsExamined: number;
  readonly instancesExamined: number;
  /** Instances stopped, terminated or gone that still have VolumeAttachments. */
  readonly staleInstances: number;
  /**
   * Instances the sweep remediated that the events missed: stopped or terminated more than 10
   * minutes before (or forgotten by EC2), so node-loss should long have freed them (a lost
   * event, a disabled rule, an event in the dead-letter queue). A younger death is left out:
   * node-loss may be at work on it.
   */
  readonly eventsMissed: number;
  readonly staleAttachments: number;
  /** VolumeAttachments whose node names no instance: left alone, listed for a person to look at. */
  readonly unresolvedAttachments: readonly string[];
  /**
   * Pods that were stuck when the sweep began: scheduled on a live Node, Pending, their volume
   * held by a VolumeAttachment to the Node of a dead instance (their `Multi-Attach error`).
   * The sweep's remediation frees them; at most 200 in the result event.
   */
  readonly stuckPods?: readonly StuckPod[];
  readonly deferred: readonly string[];
  readonly summary: {
    readonly volumesDetached: number;
    readonly attachmentsDeleted: number;
    readonly refusals: number;
    readonly failures: number;
  };
  readonly elapsedMs: number;
}

/** A pod a dead instance's Node kept from running: its volume attached there. */
export interface StuckPod {
  /** namespace/name. */
  readonly pod: string;
  /** The live Node it is scheduled on. */
  readonly node: string;
  /** Its claim whose volume is held. */
  readonly claim: string;
  readonly persistentVolume?: string;
  /** The dead instance's Node the volume's VolumeAttachment names. */
  readonly heldBy: string;
  readonly instanceId: string;
}

/**
 * The detail of an "EBS Volume Sweep Result" event. EventBridge takes events up to 256 KB:
 * the instances come without their actions (counted instead), at most 200 of them.
 */
export interface SweepResultDetail extends SweepSummary {
  readonly clusterName: string;
  readonly trigger: Trigger;
  readonly instances: ReadonlyArray<
    Omit<InstanceReport, 'actions' | 'skipped'> & {
      readonly actions: number;
      readonly failedActions: number;
    }
  >;
  /** How many instances did not fit in `instances`. */
  readonly instancesLeftOut: number;
}

/** The detail of an "EBS Volume Fence Result" event: one hung node. */
export interface FenceResultDetail extends FenceReport {
  readonly clusterName: string;
  readonly trigger: Trigger;
}

/** How a terminate lifecycle hook ended. */
export interface LifecycleReport {
  readonly instanceId: string;
  readonly nodeName?: string;
  readonly autoScalingGroupName: string;
  readonly lifecycleHookName: string;
  /**
   * drained: the VolumeAttachments went away and the action was completed; instance-gone: EC2
   * already reports the instance terminated or gone, so there is nothing to wait for;
   * budget-spent: they did not within the wait budget, and it was completed anyway (node-loss
   * cleans up after termination); already-completed: Auto Scaling no longer held the action
   * (a replayed event, or completed by someone else); dry-run: nothing was sent to Auto Scaling
   * (no heartbeat, no completion), `attachmentsLeft` are what it would wait for.
   */
  readonly outcome: 'drained' | 'instance-gone' | 'budget-spent' | 'already-completed' | 'dry-run';
  /** DRY_RUN was on: Auto Scaling was sent nothing. */
  readonly dryRun: boolean;
  readonly attachmentsLeft: readonly string[];
  readonly heartbeats: number;
  readonly waitedMs: number;
}

/** The detail of an "EBS Volume Lifecycle Result" event. */
export interface LifecycleResultDetail extends LifecycleReport {
  readonly clusterName: string;
  readonly trigger: Trigger;
}
