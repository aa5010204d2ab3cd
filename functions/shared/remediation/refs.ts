/**
 * Objects as observed, as a plan names them: every change names exactly the object observed
 * (its uid), so one created again under the same name is left alone.
 */
import type { ObjectRef } from './ports.ts';

/** A VolumeAttachment as observed: deletes and finalizer removals name exactly this object. */
export interface AttachmentRef {
  readonly name: string;
  readonly uid?: string;
}

/** A Node as observed: changes to it name this uid, so a Node that took its name is left alone. */
export interface NodeRef {
  readonly name: string;
  readonly uid?: string;
}

/** A pod as observed: it is deleted only with this uid as precondition. */
export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly deleting: boolean;
  /** The taint-eviction controller's own delete had landed when it was listed. */
  readonly evictedByTaintManager?: boolean;
  /** It tolerates the taint for this long (tolerationSeconds): evicted only after it. */
  readonly toleratedForMs?: number;
  /** Its controller: a replacement it makes has the same one. */
  readonly owner?: { readonly kind: string; readonly uid: string };
  /** It uses volumes (claims or inline EBS volumes): its replacement waits for them. */
  readonly usesVolumes?: true;
}

/** One EBS volume to free: detach it from the instance if EC2 holds it, then delete its attachments. */
export interface VolumeTask {
  readonly volumeId: string;
  /** Present when EC2 still holds the volume on the instance. */
  readonly detach?: { readonly device: string };
  readonly attachments: readonly AttachmentRef[];
}

/** A volume a pod that stays on the dead Node uses: it stays attached. */
export interface VolumeInUse {
  readonly volumeId: string;
  /** The pods that use it, as namespace/name. */
  readonly pods: readonly string[];
}

/** The ref of a Node observed. */
export function refOf(node: { readonly name: string; readonly uid?: string | undefined }): NodeRef {
  return { name: node.name, ...(node.uid ? { uid: node.uid } : {}) };
}

/** A Node as the object of an Event. */
export function nodeObject(node: NodeRef): ObjectRef {
  return { kind: 'Node', ...node };
}

/** A pod as the object of an Event. */
export function podObject(pod: Pick<PodRef, 'namespace' | 'name' | 'uid'>): ObjectRef {
  return { kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid };
}

/** A VolumeAttachment as the object of an Event. */
export function attachmentObject(attachment: AttachmentRef): ObjectRef {
  return { kind: 'VolumeAttachment', ...attachment };
}
