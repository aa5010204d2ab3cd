import type {
  AttachmentFacts,
  InstanceFacts,
  NodeFacts,
  PersistentVolumeFacts,
  Taint,
  VolumeFacts,
} from './facts.ts';

/** The EC2 calls the remediator makes, and nothing more. */
export interface Ec2Port {
  /** The instances EC2 knows of these ids; an id missing from the result is gone. */
  describeInstances(instanceIds: readonly string[]): Promise<Map<string, InstanceFacts>>;
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

/** The Kubernetes calls the remediator makes: exactly what infra/kubernetes/rbac.yaml grants. */
export interface KubernetesPort {
  /** Every Node, or those matching a label selector. */
  listNodes(labelSelector?: string): Promise<NodeFacts[]>;
  listVolumeAttachments(): Promise<AttachmentFacts[]>;
  readPersistentVolume(name: string): Promise<PersistentVolumeFacts | undefined>;
  readVolumeAttachment(name: string): Promise<AttachmentFacts | undefined>;
  /** Resolves `not-found` when it is already gone. */
  deleteVolumeAttachment(name: string): Promise<'deleted' | 'not-found'>;
  /**
   * Removes one finalizer, if the object still carries it, and resolves with the finalizers
   * left (none once the object is gone). `seen`, a read made a moment ago, saves reading again
   * when nothing changed since.
   */
  removeVolumeAttachmentFinalizer(
    name: string,
    finalizer: string,
    seen?: AttachmentFacts,
  ): Promise<readonly string[]>;
  /** Adds the taint unless the Node has it already. */
  addNodeTaint(nodeName: string, taint: Taint): Promise<void>;
  /** Removes taints with this key and value, if present. */
  removeNodeTaint(nodeName: string, taint: Taint): Promise<void>;
}
