/**
 * What the remediator observes of EC2 and Kubernetes, as plain data. The ports return these;
 * the planner decides on them alone, so every decision can be tested without a network.
 */

import type { InstanceState } from '../contract/result-events.ts';

// The instance state is the public result event contract's.
export type { InstanceState };

export interface InstanceFacts {
  readonly instanceId: string;
  readonly state: InstanceState;
  readonly privateDnsName?: string;
  /** The device of the root volume, such as /dev/xvda: never detached. */
  readonly rootDeviceName?: string;
  /** Why EC2 last changed the state: `Client.UserInitiatedHibernate` marks a hibernated instance. */
  readonly stateReasonCode?: string;
  /** The instance is configured for hibernation (HibernationOptions.Configured): a stop may be one. */
  readonly hibernationConfigured?: boolean;
  readonly availabilityZone?: string;
  readonly tags: Readonly<Record<string, string>>;
  /** When EC2's answer arrived (epoch ms): how current the state is. */
  readonly describedAt?: number;
  /**
   * When the stop or termination was asked for (epoch ms), from EC2's StateTransitionReason
   * ("User initiated (2026-12-07 01:02:03 GMT)"): the guest may still run for a while after it.
   */
  readonly stateChangeRequestedAt?: number;
}

/**
 * What EC2 reported of an instance (`gone` only where EC2 answered InvalidInstanceID.NotFound for
 * it). The EC2 port answers for every id it was asked about; an id it did not answer for is a
 * bug, never taken as gone.
 */
export function instanceAsReported(
  instances: ReadonlyMap<string, InstanceFacts>,
  instanceId: string,
): InstanceFacts {
  const instance = instances.get(instanceId);
  if (!instance) throw new Error(`EC2 was not asked about ${instanceId}`);
  return instance;
}

/** The states in which no guest of the instance runs: it may be fenced and its volumes forced. */
const offStates: ReadonlySet<InstanceState> = new Set(['stopped', 'terminated', 'gone']);

/** Whether EC2's state says the instance is off for certain. */
export function isOff(state: InstanceState | undefined): boolean {
  return state !== undefined && offStates.has(state);
}

export interface VolumeAttachmentInEc2 {
  readonly instanceId: string;
  readonly device: string;
  /** attaching, attached, detaching, detached or busy. */
  readonly state: string;
  /** EC2 deletes the volume with the instance: a node-level volume (root, data), never a PV's. */
  readonly deleteOnTermination?: boolean;
}

export interface VolumeFacts {
  readonly volumeId: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly attachments: readonly VolumeAttachmentInEc2[];
}

export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: string;
}

export interface NodeFacts {
  readonly name: string;
  readonly uid?: string;
  readonly providerId?: string;
  readonly taints: readonly Taint[];
  /** The Ready condition is True. */
  readonly ready?: boolean;
  /** When a kubelet last reported the Ready condition True (epoch ms), while it is True. */
  readonly readyHeartbeatAt?: number;
  /** When a kubelet last renewed the Node's Lease in kube-node-lease (epoch ms), where read. */
  readonly leaseRenewedAt?: number;
  /** When the Ready condition left True (epoch ms), while it is Unknown or False. */
  readonly notReadySince?: number;
  /** A control-plane Node (by its role label): never fenced. */
  readonly controlPlane?: boolean;
  /** Annotated `ebs-volume-remediator/fence: "false"`: never fenced. */
  readonly fenceOptOut?: boolean;
}

export interface AttachmentFacts {
  readonly name: string;
  /** The object observed: a VolumeAttachment created again under the same name has another. */
  readonly uid?: string;
  readonly attacher: string;
  readonly nodeName: string;
  /** The csi.alpha.kubernetes.io/node-id annotation: the instance id the attacher used. */
  readonly nodeIdAnnotation?: string;
  readonly persistentVolumeName?: string;
  /** The volume handle of a migrated inline volume (spec.source.inlineVolumeSpec). */
  readonly inlineVolumeReference?: string;
  readonly deleting: boolean;
  readonly finalizers: readonly string[];
  /** The version read, so that a change can be made only if nothing changed since. */
  readonly resourceVersion?: string;
  /** status.attached: the attacher reports the volume attached to the Node. */
  readonly attached?: boolean;
  /** status.attachError.message: why the attacher could not attach it, while it cannot. */
  readonly attachError?: string;
}

/** A pod's toleration, as the API serves it. */
export interface Toleration {
  readonly key?: string;
  readonly operator?: string;
  readonly value?: string;
  readonly effect?: string;
  readonly tolerationSeconds?: number | null;
}

/** A pod bound to a dead instance's Node. */
export interface PodFacts {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** It carries a deletionTimestamp: someone (the taint-eviction controller) deleted it. */
  readonly deleting: boolean;
  /**
   * The taint-eviction controller's own delete landed: it is being deleted and carries that
   * controller's DisruptionTarget condition (reason DeletionByTaintManager), which the
   * controller writes right before its delete. Only then has its delete by name been spent.
   */
  readonly evictedByTaintManager: boolean;
  readonly tolerations: readonly Toleration[];
  /** The PersistentVolumeClaims it uses (in its namespace), generic ephemeral volumes' included. */
  readonly claims: readonly string[];
  /** The EBS volumes it names inline (in-tree awsElasticBlockStore), as volume ids. */
  readonly inlineVolumeIds: readonly string[];
  /** Its controller (ownerReference with controller true): how a replacement is recognised. */
  readonly owner?: { readonly kind: string; readonly uid: string };
  /** The Node it is bound to (spec.nodeName), once scheduled. */
  readonly nodeName?: string;
  /** status.phase: Pending, Running, Succeeded, Failed. */
  readonly phase?: string;
  /** When its last container started running (epoch ms, to the second), while it runs. */
  readonly runningSince?: number;
  /** Why the scheduler cannot place it (PodScheduled False), while it cannot. */
  readonly unschedulable?: string;
}

export interface PersistentVolumeFacts {
  readonly name: string;
  /** CSI volumeHandle or in-tree awsElasticBlockStore.volumeID, as written. */
  readonly volumeReference?: string;
  /** The claim bound to it (spec.claimRef), as namespace/name. */
  readonly claim?: string;
}

/** A VolumeAttachment of the instance, with the EBS volume it stands for when that is known. */
export interface MappedAttachment {
  readonly attachment: AttachmentFacts;
  readonly volumeId?: string;
  /** The claim bound to its PersistentVolume, as namespace/name: how pods name the volume. */
  readonly claim?: string;
}

/** Everything observed about one instance, at action time. */
export interface Observation {
  readonly instance: InstanceFacts;
  readonly node?: NodeFacts;
  readonly attachments: readonly MappedAttachment[];
  /** The volumes EC2 holds on this instance now. */
  readonly volumesInEc2: readonly VolumeFacts[];
  /** The pods bound to the instance's Node (by name: the Node may be gone). */
  readonly pods?: readonly PodFacts[];
  /** The Region of the EC2 API that was asked: the only Region this function acts in. */
  readonly region?: string;
  /**
   * When the instance was stopped or terminated for certain (epoch ms): the time of the EC2
   * event that said so. No kubelet of the instance ran after it.
   */
  readonly diedAt?: number;
  /** When the Node and its Lease were read (epoch ms). */
  readonly observedAt?: number;
}
