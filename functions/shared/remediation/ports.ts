import type { EventObjectKind } from '../contract/kubernetes-events.ts';
import type {
  AttachmentFacts,
  InstanceFacts,
  InstanceState,
  NodeFacts,
  PersistentVolumeFacts,
  PodFacts,
  Taint,
  VolumeFacts,
} from './facts.ts';

/** The EC2 calls the remediator makes, and nothing more. */
export interface Ec2Port {
  /** The Region the calls go to: the only Region this function acts in. */
  region(): Promise<string>;
  /**
   * Every id asked, as EC2 reports it; `gone` only where EC2 answered InvalidInstanceID.NotFound
   * for that very id. Throws rather than leave an id unanswered.
   */
  describeInstances(instanceIds: readonly string[]): Promise<Map<string, InstanceFacts>>;
  /**
   * The state of every id asked, on the same terms as describeInstances but without the rest of
   * the description: for screening many instances, never for deciding an action.
   */
  instanceStates(instanceIds: readonly string[]): Promise<Map<string, InstanceState>>;
  /** The volumes EC2 holds on any of these instances. */
  describeVolumesAttachedTo(instanceIds: readonly string[]): Promise<VolumeFacts[]>;
  /** These volumes as EC2 reports them now; a volume that no longer exists is left out. */
  describeVolumes(volumeIds: readonly string[]): Promise<VolumeFacts[]>;
  /**
   * Detaches the volume from that instance only: with the instance named, EC2 refuses rather
   * than pull the volume from another instance it was attached to since.
   * Resolves `already-detached` when EC2 says there is no such attachment.
   */
  detachVolume(
    volumeId: string,
    instanceId: string,
    force: boolean,
  ): Promise<'detaching' | 'already-detached'>;
}

export type FinalizerRemoval =
  | { readonly outcome: 'removed'; readonly remaining: readonly string[] }
  /** Gone, or no longer carrying the finalizer: someone else finished. */
  | { readonly outcome: 'gone' }
  /** Another object under the same name, or not being deleted: not ours to strip. */
  | { readonly outcome: 'not-ours'; readonly reason: string };

/** The object an Event is about (`regarding`): its uid lets `kubectl describe` find the Event. */
export interface ObjectRef {
  readonly kind: EventObjectKind;
  readonly name: string;
  /** Absent for the cluster's objects (Nodes, VolumeAttachments): their Events go to `default`. */
  readonly namespace?: string;
  readonly uid?: string;
}

/** A new `events.k8s.io/v1` Event. */
export interface EventToWrite {
  readonly regarding: ObjectRef;
  readonly reason: string;
  /** What was done, in CamelCase. */
  readonly action: string;
  readonly note: string;
  readonly type: 'Normal' | 'Warning';
  readonly reportingController: string;
  readonly reportingInstance: string;
  /** When it happened (epoch ms). */
  readonly eventTime: number;
}

/** An Event to write on an object. */
export interface ObjectEvent {
  readonly regarding: ObjectRef;
  readonly reason: string;
  /** What was done, in CamelCase. */
  readonly action: string;
  readonly note: string;
  readonly type: 'Normal' | 'Warning';
  /** When it happened (epoch ms), when that was before it is recorded; else now. */
  readonly at?: number;
}

/**
 * Where the remediation's Events go: fire and forget, never failing the work
 * (kubernetes/event-recorder.ts writes them through the KubernetesPort).
 */
export interface EventSink {
  record(event: ObjectEvent): void;
}

/** Where an Event was written: where its series is updated. */
export interface WrittenEvent {
  readonly namespace: string;
  readonly name: string;
}

/** The Kubernetes calls the remediator makes: exactly what infra/kubernetes/rbac.yaml grants. */
export interface KubernetesPort {
  /** Every Node, or those matching a label selector. */
  listNodes(labelSelector?: string): Promise<NodeFacts[]>;
  /** One Node by name, or undefined when there is none. */
  readNode(name: string): Promise<NodeFacts | undefined>;
  listVolumeAttachments(): Promise<AttachmentFacts[]>;
  readPersistentVolume(name: string): Promise<PersistentVolumeFacts | undefined>;
  readVolumeAttachment(name: string): Promise<AttachmentFacts | undefined>;
  /**
   * Deletes the VolumeAttachment with this uid (a precondition: one created again under the same
   * name is left alone). Resolves `not-found` when that object is already gone, and
   * `already-deleting` when someone else's deletion came first (it waits on its finalizer).
   */
  deleteVolumeAttachment(
    name: string,
    uid?: string,
  ): Promise<'deleted' | 'already-deleting' | 'not-found'>;
  /**
   * Removes one finalizer from the object `seen` (a read made a moment ago): only from that uid,
   * and only once it is being deleted. Resolves with the finalizers left, or why nothing was
   * removed.
   */
  removeVolumeAttachmentFinalizer(
    name: string,
    finalizer: string,
    seen: AttachmentFacts,
  ): Promise<FinalizerRemoval>;
  /** The pods bound to a node (spec.nodeName), in every namespace; the Node may be gone. */
  listPodsOnNode(nodeName: string): Promise<PodFacts[]>;
  /** The pods of a namespace: where a replacement made by a controller is looked for. */
  listPods(namespace: string): Promise<PodFacts[]>;
  /** Reads one pod, or undefined when it is gone. */
  readPod(namespace: string, name: string): Promise<PodFacts | undefined>;
  /**
   * Deletes the pod with this uid (a precondition: a replacement under the same name is never
   * touched): `force` with grace period 0, `graceful` as `kubectl delete` does, which on a dead
   * Node only marks it Terminating. Resolves `not-found` when that pod is already gone.
   */
  deletePod(
    namespace: string,
    name: string,
    uid: string,
    how: 'force' | 'graceful',
  ): Promise<'deleted' | 'not-found'>;
  /**
   * When the Node's kubelet last renewed its Lease in kube-node-lease (epoch ms), or undefined
   * when it has none.
   */
  readNodeLeaseRenewal(nodeName: string): Promise<number | undefined>;
  /** When each Node's Lease was last renewed (epoch ms), by Node name: one list of kube-node-lease. */
  listNodeLeaseRenewals(): Promise<Map<string, number>>;
  /** Deletes the Node with this uid (a precondition). Resolves `not-found` when it is gone. */
  deleteNode(name: string, uid?: string): Promise<'deleted' | 'not-found'>;
  /** Adds the taint unless the Node has it already; only to the Node with this uid, if given. */
  addNodeTaint(nodeName: string, taint: Taint, uid?: string): Promise<NodeChange>;
  /** Removes taints with this key and value, if present; only from the Node with this uid, if given. */
  removeNodeTaint(nodeName: string, taint: Taint, uid?: string): Promise<NodeChange>;
  /** Creates an Event in the namespace of the object it is about (`default` for the cluster's). */
  createEvent(event: EventToWrite): Promise<WrittenEvent>;
  /** Records that the Event happened again: its series' count and last time (epoch ms). */
  patchEventSeries(event: WrittenEvent, count: number, lastObservedTime: number): Promise<void>;
}

/**
 * How a change to a Node ended: made; not needed (already so); the Node is gone; or another
 * Node bears the name now (not the uid observed), which is left alone.
 */
export type NodeChange = 'done' | 'already-done' | 'gone' | 'not-ours';
