/**
 * The decisions, as pure functions from what was observed to what to do. Nothing here calls
 * EC2 or Kubernetes, and nothing here knows about dry-run: the executor does.
 */
import { instanceIdFromProviderId, parseEbsVolumeId } from '../aws-ids.ts';
import type { Config } from '../config.ts';
import { ebsCsiAttacher } from '../volume-attachment-name.ts';
import type {
  AttachmentFacts,
  InstanceFacts,
  InstanceState,
  NodeFacts,
  Taint,
  VolumeFacts,
} from './facts.ts';

/**
 * The taint of Kubernetes non-graceful node shutdown (KEP-2268). The value marks it as ours, so
 * that only a taint this project added is lifted when the instance runs again.
 */
export const outOfServiceTaint: Taint = {
  key: 'node.kubernetes.io/out-of-service',
  value: 'ebs-volume-remediator',
  effect: 'NoExecute',
};

/** A VolumeAttachment of the instance, with the EBS volume it stands for when that is known. */
export interface MappedAttachment {
  readonly attachment: AttachmentFacts;
  readonly volumeId?: string;
}

/** Everything observed about one instance, at action time. */
export interface Observation {
  readonly instance: InstanceFacts;
  readonly node?: NodeFacts;
  readonly attachments: readonly MappedAttachment[];
  /** The volumes EC2 holds on this instance now. */
  readonly volumesInEc2: readonly VolumeFacts[];
}

/** One EBS volume to free: detach it from the instance if EC2 holds it, then delete its attachments. */
export interface VolumeTask {
  readonly volumeId: string;
  /** Present when EC2 still holds the volume on the instance. */
  readonly detach?: { readonly device: string };
  readonly attachmentNames: readonly string[];
}

export interface Skipped {
  readonly kind: 'volume' | 'volumeattachment';
  readonly name: string;
  readonly reason: string;
}

export type InstancePlan =
  | {
      readonly outcome: 'skipped' | 'refused';
      readonly instanceId: string;
      readonly state: InstanceState;
      readonly nodeName?: string;
      readonly reason: string;
    }
  | {
      readonly outcome: 'remediate';
      readonly instanceId: string;
      readonly state: InstanceState;
      readonly nodeName?: string;
      /** Force is the last resort, for an instance that is stopped, terminated or gone. */
      readonly forceAllowed: boolean;
      readonly volumes: readonly VolumeTask[];
      readonly taintNode?: string;
      readonly skipped: readonly Skipped[];
    };

export type TaintLiftPlan =
  | { readonly outcome: 'skipped'; readonly instanceId: string; readonly reason: string }
  | { readonly outcome: 'lift-taint'; readonly instanceId: string; readonly nodeName: string };

type PlanSettings = Pick<Config, 'clusterName' | 'onStopped' | 'outOfServiceTaint'>;

/** Whether a tag set ties an instance or volume to the cluster. */
export function taggedForCluster(tags: Readonly<Record<string, string>>, clusterName: string) {
  return (
    `kubernetes.io/cluster/${clusterName}` in tags ||
    tags['eks:cluster-name'] === clusterName ||
    tags.KubernetesCluster === clusterName
  );
}

/** The Node of an instance, by the instance id in its providerID. */
export function nodeOfInstance(nodes: readonly NodeFacts[], instanceId: string) {
  return nodes.find((node) => instanceIdFromProviderId(node.providerId) === instanceId);
}

/**
 * The node name the instance's VolumeAttachments carry: its Node's, or, when the Node is gone,
 * the instance's private DNS name. Private DNS names repeat across VPCs, so that fallback holds
 * only while no other instance's Node bears the name: otherwise a dead stranger that shares a
 * live node's name would take that live node's attachments with it.
 */
export function nodeNameOfInstance(
  nodes: readonly NodeFacts[],
  instance: InstanceFacts,
): string | undefined {
  const node = nodeOfInstance(nodes, instance.instanceId);
  if (node) return node.name;
  const name = instance.privateDnsName;
  return name && !nodes.some((n) => n.name === name) ? name : undefined;
}

/**
 * The EBS CSI VolumeAttachments that bind a volume to the instance: by node name (the Node's, or
 * the instance's private DNS name when the Node is gone) or by the node-id annotation.
 */
export function attachmentsOfInstance(
  attachments: readonly AttachmentFacts[],
  instanceId: string,
  nodeName: string | undefined,
): AttachmentFacts[] {
  return attachments.filter(
    (a) =>
      a.attacher === ebsCsiAttacher &&
      ((nodeName !== undefined && a.nodeName === nodeName) || a.nodeIdAnnotation === instanceId),
  );
}

/** The EBS volume id of a VolumeAttachment, from its PV's reference or its inline spec. */
export function volumeIdOf(
  attachment: AttachmentFacts,
  persistentVolumeReference: string | undefined,
): string | undefined {
  return parseEbsVolumeId(persistentVolumeReference ?? attachment.inlineVolumeReference);
}

function holdsVolume(volume: VolumeFacts, instanceId: string): boolean {
  return volume.attachments.some((a) => a.instanceId === instanceId && a.state !== 'detached');
}

const untouchable: Partial<Record<InstanceState, string>> = {
  pending: 'EC2 reports the instance pending: it is starting, and a live instance is never touched',
  running: 'EC2 reports the instance running: a live instance is never touched',
  stopping: 'EC2 reports the instance stopping: its volumes are freed once it has stopped',
};

/** What to do for one instance that an event says is gone or going. */
export function planRemediation(observation: Observation, settings: PlanSettings): InstancePlan {
  const { instance, node } = observation;
  const instanceId = instance.instanceId;
  // For the report: the Node's name, or the name the instance's Node had.
  const nodeName = node?.name ?? instance.privateDnsName;
  const about = { instanceId, state: instance.state, ...(nodeName ? { nodeName } : {}) };

  const inCluster =
    taggedForCluster(instance.tags, settings.clusterName) ||
    node !== undefined ||
    observation.attachments.length > 0;
  if (!inCluster) {
    return {
      outcome: 'skipped',
      ...about,
      reason: `not an instance of cluster ${settings.clusterName}: no cluster tag, no Node, no VolumeAttachment`,
    };
  }
  const refusal = untouchable[instance.state];
  if (refusal) return { outcome: 'refused', ...about, reason: refusal };
  if (instance.state === 'stopped' && settings.onStopped === 'ignore') {
    return { outcome: 'skipped', ...about, reason: 'instance stopped, and ON_STOPPED is ignore' };
  }

  const skipped: Skipped[] = [];
  const attachmentsByVolume = new Map<string, string[]>();
  for (const { attachment, volumeId } of observation.attachments) {
    if (!volumeId) {
      skipped.push({
        kind: 'volumeattachment',
        name: attachment.name,
        reason: 'cannot tie it to an EBS volume (no PersistentVolume with an EBS volume id)',
      });
      continue;
    }
    attachmentsByVolume.set(volumeId, [
      ...(attachmentsByVolume.get(volumeId) ?? []),
      attachment.name,
    ]);
  }

  const volumes: VolumeTask[] = [];
  const heldByEc2 = new Set<string>();
  for (const volume of observation.volumesInEc2) {
    const attachment = volume.attachments.find((a) => a.instanceId === instanceId);
    if (!attachment || !holdsVolume(volume, instanceId)) continue;
    heldByEc2.add(volume.volumeId);
    if (instance.rootDeviceName !== undefined && attachment.device === instance.rootDeviceName) {
      skipped.push({ kind: 'volume', name: volume.volumeId, reason: 'the root volume' });
      continue;
    }
    const ours =
      attachmentsByVolume.has(volume.volumeId) ||
      taggedForCluster(volume.tags, settings.clusterName);
    if (!ours) {
      skipped.push({
        kind: 'volume',
        name: volume.volumeId,
        reason: `not a volume of cluster ${settings.clusterName}: no PersistentVolume names it, no cluster tag`,
      });
      continue;
    }
    volumes.push({
      volumeId: volume.volumeId,
      detach: { device: attachment.device },
      attachmentNames: attachmentsByVolume.get(volume.volumeId) ?? [],
    });
  }
  // Attachments whose volume EC2 no longer holds on this instance: only the Kubernetes side is left.
  for (const [volumeId, attachmentNames] of attachmentsByVolume) {
    if (!heldByEc2.has(volumeId)) volumes.push({ volumeId, attachmentNames });
  }

  const taint =
    settings.outOfServiceTaint &&
    instance.state === 'stopped' &&
    node !== undefined &&
    !node.taints.some(
      (t) => t.key === outOfServiceTaint.key && t.effect === outOfServiceTaint.effect,
    );

  return {
    outcome: 'remediate',
    ...about,
    forceAllowed: ['stopped', 'terminated', 'gone'].includes(instance.state),
    volumes,
    ...(taint && node ? { taintNode: node.name } : {}),
    skipped,
  };
}

/** What to do for an instance that runs again: lift the out-of-service taint we added. */
export function planTaintLift(instance: InstanceFacts, node: NodeFacts | undefined): TaintLiftPlan {
  const instanceId = instance.instanceId;
  if (instance.state !== 'running') {
    return {
      outcome: 'skipped',
      instanceId,
      reason: `EC2 reports the instance ${instance.state}, not running: the taint stays`,
    };
  }
  if (!node) return { outcome: 'skipped', instanceId, reason: 'no Node for this instance' };
  const ours = node.taints.some(
    (t) =>
      t.key === outOfServiceTaint.key &&
      t.value === outOfServiceTaint.value &&
      t.effect === outOfServiceTaint.effect,
  );
  if (!ours) {
    return {
      outcome: 'skipped',
      instanceId,
      reason: 'no out-of-service taint of ours on the Node',
    };
  }
  return { outcome: 'lift-taint', instanceId, nodeName: node.name };
}

/** How many volumes a set of plans would detach. */
export function volumesToDetach(plans: readonly InstancePlan[]): number {
  return plans.reduce(
    (sum, plan) =>
      sum + (plan.outcome === 'remediate' ? plan.volumes.filter((v) => v.detach).length : 0),
    0,
  );
}

/**
 * The circuit breaker: when the plans together would detach more than `limit` volumes, every
 * plan that would act is refused instead, because that many dead nodes at once more likely
 * means a wrong event or a wrong state than a real mass failure.
 */
export function applyCircuitBreaker(plans: readonly InstancePlan[], limit: number): InstancePlan[] {
  const total = volumesToDetach(plans);
  if (total <= limit) return [...plans];
  return plans.map((plan) =>
    plan.outcome !== 'remediate'
      ? plan
      : {
          outcome: 'refused',
          instanceId: plan.instanceId,
          state: plan.state,
          ...(plan.nodeName ? { nodeName: plan.nodeName } : {}),
          reason: `circuit breaker: ${total} volumes to detach in one invocation, more than MAX_VOLUMES_PER_INVOCATION=${limit}`,
        },
  );
}
