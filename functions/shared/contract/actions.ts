/**
 * The catalogue of actions: one row per action the remediator records. Everything that sorts
 * actions reads it: the circuit breaker (which it counts), the metrics (which it adds to), the
 * summaries (which counts it tallies), the dry-run report (what it would do) and README's table
 * (`npm run docs` writes it). Adding an action is adding a row here.
 *
 * Constants only, importing nothing but the metric names.
 */
import type { EventObjectKind } from './kubernetes-events.ts';
import { metricNames } from './metric-names.ts';

/** The counts of a result event's summary that actions add to. */
export type ActionTally = 'volumesDetached' | 'attachmentsDeleted' | 'podsDeleted';

export interface ActionRow {
  /**
   * Counted by the circuit breaker (MAX_ACTIONS_PER_INVOCATION) when planned or done. A dead
   * Node's pods are not: they died with their instance, and a Node with many pods is no more a
   * sign of a wrong event than one with few; nor are fallbacks and what others did.
   */
  readonly destructive: boolean;
  /** The metric a done action adds one to. */
  readonly metric?: string;
  /** The summary count a done (or, in a dry-run, planned) action adds one to. */
  readonly tally?: ActionTally;
  /** What a dry-run reports for it. */
  readonly wouldDo: string;
  /** What it is and when it is taken: README's table. */
  readonly what: string;
  /** The Kubernetes Event a done action writes on the object it acted on. */
  readonly event: ActionEvent;
  /**
   * What other controllers did, seen by the remediator: its Event is written only by an
   * invocation that acted itself (of two deliveries at once, the one that did the work).
   */
  readonly byOthers?: true;
}

/** An action's Kubernetes Event: its reason, the object it is on, and what its note says. */
export interface ActionEvent {
  readonly reason: string;
  readonly on: EventObjectKind;
  /** Warning for what an operator should look at; Normal otherwise. */
  readonly type: 'Normal' | 'Warning';
  /** What was done, as the note's first words. */
  readonly note: string;
}

export const actionCatalogue = {
  'fence-instance': {
    destructive: true,
    metric: metricNames.instancesFenced,
    wouldDo:
      'would fence the hung node: stop (forced) or terminate its instance, as FENCE_ACTION says',
    what: 'with `FENCE_HUNG_NODES`, stops (forced) or terminates the instance of a hung Node (NotReady, its Lease not renewed for `FENCE_AFTER_SECONDS`, EC2 says running), after reading its Lease and EC2 again; then it is recovered as a stopped (terminated) node',
    event: {
      reason: 'NodeFenced',
      on: 'Node',
      type: 'Warning',
      note: 'fenced the hung node: its instance is stopped (forced) or terminated',
    },
  },
  'taint-node': {
    destructive: true,
    metric: metricNames.taintsChanged,
    wouldDo: 'would add the out-of-service taint to the Node',
    what: 'adds the out-of-service taint (`node.kubernetes.io/out-of-service=ebs-volume-remediator:NoExecute`) to the Node of an instance EC2 reports stopped, terminated or gone, after asking EC2 again',
    event: {
      reason: 'OutOfServiceTaintApplied',
      on: 'Node',
      type: 'Normal',
      note: 'added the out-of-service taint',
    },
  },
  'delete-pod': {
    destructive: false,
    metric: metricNames.podsDeleted,
    tally: 'podsDeleted',
    wouldDo: 'would force-delete the pod (by uid) once the taint-eviction controller deleted it',
    what: "force-deletes (by uid) a pod of the dead Node that does not tolerate the taint, once the taint-eviction controller's own delete landed, or at once when the Node is gone",
    event: {
      reason: 'PodForceDeleted',
      on: 'Pod',
      type: 'Normal',
      note: 'force-deleted the pod of a dead Node',
    },
  },
  'controllers-detached': {
    destructive: false,
    byOthers: true,
    wouldDo: 'would wait for the attach/detach controller and the attacher to free the volume',
    what: "not the remediator's own: the attach/detach controller and the external-attacher freed the volume of a fenced Node",
    event: {
      reason: 'VolumeReleased',
      on: 'VolumeAttachment',
      type: 'Normal',
      note: 'the attach/detach controller and the attacher released the volume',
    },
  },
  'detach-volume': {
    destructive: true,
    metric: metricNames.volumesDetached,
    tally: 'volumesDetached',
    wouldDo: 'would detach the volume in EC2',
    what: 'detaches in EC2 (naming the instance) a volume of the cluster that the controllers did not free',
    event: {
      reason: 'VolumeDetached',
      on: 'VolumeAttachment',
      type: 'Normal',
      note: 'detached the volume in EC2',
    },
  },
  'force-detach-volume': {
    destructive: true,
    metric: metricNames.volumesForceDetached,
    tally: 'volumesDetached',
    wouldDo: 'would force-detach the volume in EC2',
    what: 'a plain detach that did not finish, forced, only while EC2 reports the instance stopped, terminated or gone',
    event: {
      reason: 'VolumeForceDetached',
      on: 'VolumeAttachment',
      type: 'Warning',
      note: 'force-detached the volume in EC2',
    },
  },
  'delete-volumeattachment': {
    destructive: true,
    metric: metricNames.attachmentsDeleted,
    tally: 'attachmentsDeleted',
    wouldDo: 'would delete the VolumeAttachment (by uid)',
    what: 'deletes (by uid) a VolumeAttachment of a volume EC2 no longer holds on the instance',
    event: {
      reason: 'VolumeAttachmentDeleted',
      on: 'VolumeAttachment',
      type: 'Normal',
      note: 'deleted the VolumeAttachment of a volume EC2 no longer holds',
    },
  },
  'remove-finalizer': {
    destructive: false,
    metric: metricNames.finalizersRemoved,
    wouldDo: "would remove the attacher's finalizer if no attacher answered",
    what: "removes the external-attacher's finalizer from a deleted VolumeAttachment no attacher released within `ATTACHER_GRACE_SECONDS`",
    event: {
      reason: 'AttacherFinalizerRemoved',
      on: 'VolumeAttachment',
      type: 'Warning',
      note: "removed the attacher's finalizer: no attacher answered",
    },
  },
  'delete-node': {
    destructive: true,
    wouldDo: 'would delete the Node (by uid)',
    what: 'with `DELETE_TERMINATED_NODES`, deletes (by uid) the Node of a terminated or gone instance once all else is done',
    event: { reason: 'NodeDeleted', on: 'Node', type: 'Normal', note: 'deleted the Node' },
  },
  'lift-taint': {
    destructive: false,
    metric: metricNames.taintsChanged,
    wouldDo: 'would lift our out-of-service taint from the Node',
    what: 'lifts our out-of-service taint from the Node of an instance that runs again, or from a Node another instance adopted',
    event: {
      reason: 'OutOfServiceTaintLifted',
      on: 'Node',
      type: 'Normal',
      note: 'lifted our out-of-service taint',
    },
  },
} as const satisfies Record<string, ActionRow>;

/** An action's name in the public contract. */
export type ActionKind = keyof typeof actionCatalogue;

const rows: ReadonlyMap<string, ActionRow> = new Map(Object.entries(actionCatalogue));

/** The row of an action. */
export function actionRow(action: ActionKind): ActionRow {
  const row = rows.get(action);
  if (!row) throw new Error(`no action ${action} in the catalogue`);
  return row;
}

/** The actions, in the catalogue's order. */
export const actionKinds = Object.keys(actionCatalogue) as ActionKind[];
