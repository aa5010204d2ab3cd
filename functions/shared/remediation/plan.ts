/**
 * The decisions, as pure functions from what was observed to what to do. Nothing here calls
 * EC2 or Kubernetes, and nothing here knows about dry-run: the executor does.
 */

import type { Config } from '../config.ts';
import type { Skipped } from '../contract/result-events.ts';
import { instanceIdFromProviderId, isInstanceId, parseEbsVolumeId } from '../identity/aws-ids.ts';
import { isEbsAttacher } from '../identity/volume-attachment-name.ts';
import type {
  AttachmentFacts,
  InstanceFacts,
  InstanceState,
  NodeFacts,
  PodFacts,
  Taint,
  VolumeFacts,
} from './facts.ts';
import { toleratedForMs } from './tolerations.ts';

// The report's types are the public result event contract's.
export type { Skipped };

/**
 * The taint of Kubernetes non-graceful node shutdown (KEP-2268). The value marks it as ours, so
 * that only a taint this project added is lifted when the instance runs again.
 */
export const outOfServiceTaint: Taint = {
  key: 'node.kubernetes.io/out-of-service',
  value: 'ebs-volume-remediator',
  effect: 'NoExecute',
};

/** Whether a taint is the out-of-service taint this project adds (its value marks it ours). */
export function isOurOutOfServiceTaint(taint: Taint): boolean {
  return (
    taint.key === outOfServiceTaint.key &&
    taint.value === outOfServiceTaint.value &&
    taint.effect === outOfServiceTaint.effect
  );
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

/** A VolumeAttachment as observed: deletes and finalizer removals name exactly this object. */
export interface AttachmentRef {
  readonly name: string;
  readonly uid?: string;
}

/** One EBS volume to free: detach it from the instance if EC2 holds it, then delete its attachments. */
export interface VolumeTask {
  readonly volumeId: string;
  /** Present when EC2 still holds the volume on the instance. */
  readonly detach?: { readonly device: string };
  readonly attachments: readonly AttachmentRef[];
}

/** A Node as observed: changes to it name this uid, so a Node that took its name is left alone. */
export interface NodeRef {
  readonly name: string;
  readonly uid?: string;
}

export type InstancePlan =
  | {
      readonly outcome: 'skipped' | 'refused' | 'waiting';
      readonly instanceId: string;
      readonly state: InstanceState;
      readonly nodeName?: string;
      readonly reason: string;
      /**
       * Our out-of-service taint, on a Node that another instance's kubelet adopted: lifted, since
       * that Node is alive.
       */
      readonly liftTaint?: NodeRef;
    }
  | {
      readonly outcome: 'remediate';
      readonly instanceId: string;
      readonly state: InstanceState;
      readonly nodeName?: string;
      /** Force is the last resort, for an instance that is stopped, terminated or gone. */
      readonly forceAllowed: boolean;
      /** When EC2 reported `state` (epoch ms), if known: the taint may rely on a reading this recent. */
      readonly stateReadAt?: number;
      readonly volumes: readonly VolumeTask[];
      /** The first stage: the out-of-service taint, so that Kubernetes stops waiting. */
      readonly taintNode?: string;
      /** The uid of the Node observed: the taint goes only on that object. */
      readonly nodeUid?: string;
      /**
       * The second: the pods bound to the dead Node that do not tolerate the taint, force-deleted
       * (as PodGC does for an out-of-service Node, without its wait for NotReady) once the
       * taint-eviction controller's own delete has landed, or at once when the Node is gone.
       */
      readonly evictPods: readonly PodRef[];
      /** Whether the Node still exists and carries (or gets) our taint: the attach/detach
       * controller then detaches at once, and the remediator lets it. */
      readonly controllersDetach: boolean;
      /** The last stage, with DELETE_TERMINATED_NODES: the Node of a terminated instance. */
      readonly deleteNode?: NodeRef;
      readonly skipped: readonly Skipped[];
    };

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
}

export type TaintLiftPlan =
  | { readonly outcome: 'skipped'; readonly instanceId: string; readonly reason: string }
  | {
      readonly outcome: 'lift-taint';
      readonly instanceId: string;
      readonly nodeName: string;
      readonly nodeUid?: string;
    };

type PlanSettings = Pick<Config, 'clusterName' | 'onStopped' | 'outOfServiceTaint'> &
  Partial<Pick<Config, 'deleteTerminatedNodes' | 'onStoppedHibernationCapable'>>;

/** The zone in a providerID aws:///<zone>/<instance-id>, when it names one. */
export function zoneOfProviderId(providerId: string | undefined): string | undefined {
  const match = /^aws:\/\/\/([a-z0-9-]+)\/i-[0-9a-f]+$/.exec(providerId ?? '');
  return match?.[1];
}

/** Whether an Availability Zone, Local Zone or Wavelength Zone belongs to the Region. */
export function zoneInRegion(zone: string, region: string): boolean {
  return zone.startsWith(region) && /^[a-z-]/.test(zone.slice(region.length));
}

/** EC2's state reason for a stop that hibernated the instance. */
const hibernated = 'Client.UserInitiatedHibernate';

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
 * The name of the instance's Node: its Node's, or, when the Node is gone, the node name of the
 * VolumeAttachments the attacher made for the instance (a terminated instance keeps no private
 * DNS name in EC2), else the instance's private DNS name. Names repeat (across VPCs, and EC2
 * reuses private IPs), so a fallback holds only while no other instance's Node bears the name:
 * otherwise a dead stranger that shares a live node's name would take that node's pods and
 * attachments with it.
 */
export function nodeNameOfInstance(
  nodes: readonly NodeFacts[],
  instance: InstanceFacts,
  attachments: readonly AttachmentFacts[] = [],
): string | undefined {
  const node = nodeOfInstance(nodes, instance.instanceId);
  if (node) return node.name;
  const attached = new Set(
    attachments
      .filter((a) => isEbsAttacher(a.attacher) && a.nodeIdAnnotation === instance.instanceId)
      .map((a) => a.nodeName),
  );
  const name = attached.size === 1 ? [...attached][0] : instance.privateDnsName;
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
      isEbsAttacher(a.attacher) &&
      (a.nodeIdAnnotation === instanceId ||
        // The attacher names the instance it attached to: one that names another instance
        // under this node name was made for the instance that took the name over.
        (nodeName !== undefined &&
          a.nodeName === nodeName &&
          !(a.nodeIdAnnotation && isInstanceId(a.nodeIdAnnotation)))),
  );
}

/** How far the clocks of EC2, EventBridge (whole seconds) and a kubelet may disagree. */
const clockSkewMs = 2_000;

/** A kubelet's Lease lasts 40 s and is renewed every 10 s: one not renewed for 40 s is stale. */
const leaseDurationMs = 40_000;

/** Our taint on a Node that turned out alive: lifted, from the Node observed. */
function liftOurTaint(node: NodeFacts): { liftTaint?: NodeRef } {
  return node.taints.some(isOurOutOfServiceTaint)
    ? { liftTaint: { name: node.name, ...(node.uid ? { uid: node.uid } : {}) } }
    : {};
}

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

/** A live instance named as dead: refused, for an operator to look at. */
const untouchable: Partial<Record<InstanceState, string>> = {
  pending: 'EC2 reports the instance pending: it is starting, and a live instance is never touched',
  running: 'EC2 reports the instance running: a live instance is never touched',
};

/** An instance on its way down: a normal step, waited for, not a refusal. */
const onItsWay: Partial<Record<InstanceState, string>> = {
  stopping: 'EC2 reports the instance stopping: its volumes are freed once it has stopped',
  'shutting-down':
    'EC2 reports the instance shutting down: its guest OS still runs and holds its filesystems; ' +
    'the remediator acts once EC2 reports it terminated',
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
  const zone = zoneOfProviderId(node?.providerId);
  if (observation.region && zone && !zoneInRegion(zone, observation.region)) {
    return {
      outcome: 'refused',
      ...about,
      reason:
        `the Node's zone ${zone} is not in this function's Region ${observation.region}: ` +
        'what EC2 says here proves nothing about it (deploy the remediator in each Region of the cluster)',
    };
  }
  const refusal = untouchable[instance.state];
  if (refusal) return { outcome: 'refused', ...about, reason: refusal };
  const notYet = onItsWay[instance.state];
  if (notYet) return { outcome: 'waiting', ...about, reason: notYet };
  if (instance.state === 'stopped' && settings.onStopped === 'ignore') {
    return { outcome: 'skipped', ...about, reason: 'instance stopped, and ON_STOPPED is ignore' };
  }
  if (instance.state === 'stopped' && instance.stateReasonCode === hibernated) {
    return {
      outcome: 'skipped',
      ...about,
      reason: `instance hibernated (${hibernated}): it resumes with its memory and mounts, so its volumes stay`,
    };
  }
  // Spot hibernation and a user's gives no reliable reason code: configured is enough.
  if (
    instance.state === 'stopped' &&
    instance.hibernationConfigured &&
    settings.onStoppedHibernationCapable !== 'remediate'
  ) {
    return {
      outcome: 'skipped',
      ...about,
      reason:
        'instance configured for hibernation: a stop may have hibernated it, and it would resume ' +
        'with its memory and mounts, so its volumes stay (ON_STOPPED_HIBERNATION_CAPABLE=remediate ' +
        'frees them)',
    };
  }
  const reporting =
    node && instance.state === 'gone' ? stillReporting(node, observation.observedAt) : undefined;
  if (node && reporting) {
    return {
      outcome: 'refused',
      ...about,
      reason:
        `EC2 does not know the instance, which proves only that this account and Region do not see it, ` +
        `and its Node ${node.name} still reports: ${reporting}. Nothing is done until the Node stops ` +
        'reporting (NotReady, or its Lease not renewed for 50 s)',
      ...liftOurTaint(node),
    };
  }
  const life = node ? signOfLife(node, observation) : undefined;
  if (node && life) {
    return {
      outcome: 'refused',
      ...about,
      reason:
        `Node ${node.name} names the instance in its providerID but shows life after the instance died: ${life}. ` +
        'Another instance has its name (EC2 reuses private IPs and so DNS names) and its kubelet adopted the ' +
        'Node: it is never tainted and none of its pods are deleted (DELETE_TERMINATED_NODES removes such Nodes ' +
        'before a new kubelet can adopt them)',
      ...liftOurTaint(node),
    };
  }

  const skipped: Skipped[] = [];
  const attachmentsByVolume = new Map<string, AttachmentRef[]>();
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
      { name: attachment.name, ...(attachment.uid ? { uid: attachment.uid } : {}) },
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
    if (attachment.deleteOnTermination) {
      skipped.push({
        kind: 'volume',
        name: volume.volumeId,
        reason:
          'DeleteOnTermination is set: a node-level volume (root or data), never a PersistentVolume',
      });
      continue;
    }
    // Only a PersistentVolume or VolumeAttachment of the cluster makes a volume the cluster's:
    // Karpenter and kOps copy cluster tags onto node volumes, so a tag proves nothing.
    if (!attachmentsByVolume.has(volume.volumeId)) {
      skipped.push({
        kind: 'volume',
        name: volume.volumeId,
        reason: `not a volume of cluster ${settings.clusterName}: no PersistentVolume or VolumeAttachment of the cluster names it (a tag alone never does)`,
      });
      continue;
    }
    volumes.push({
      volumeId: volume.volumeId,
      detach: { device: attachment.device },
      attachments: attachmentsByVolume.get(volume.volumeId) ?? [],
    });
  }
  // Attachments whose volume EC2 no longer holds on this instance: only the Kubernetes side is left.
  for (const [volumeId, attachments] of attachmentsByVolume) {
    if (!heldByEc2.has(volumeId)) volumes.push({ volumeId, attachments });
  }

  // KEP-2268: a Node known to be shut down gets the out-of-service taint. EC2's word that the
  // instance is stopped, terminated or gone is that knowledge, earlier than any Node condition.
  const present = node?.taints.find(
    (t) => t.key === outOfServiceTaint.key && t.effect === outOfServiceTaint.effect,
  );
  const taint = settings.outOfServiceTaint && node !== undefined && !present;
  const fenced = node !== undefined && (present !== undefined || taint);
  const pods = podsOfDeadNode(observation, fenced ? (present ?? outOfServiceTaint) : undefined);
  // A volume a staying pod uses stays attached: freeing it would make the attach/detach
  // controller attach it back. Every other volume goes on.
  const kept = volumes.filter((v) => pods.usersOf(v.volumeId).length > 0);
  for (const volume of kept) {
    const users = pods.usersOf(volume.volumeId);
    skipped.push({
      kind: 'volume',
      name: volume.volumeId,
      reason:
        `kept: pod ${users.slice(0, 3).join(', ')} stays bound to the dead Node (it tolerates the ` +
        'out-of-service taint, or none was added) and uses it; freeing it would make the ' +
        'attach/detach controller attach it back',
    });
  }

  return {
    outcome: 'remediate',
    ...about,
    forceAllowed: ['stopped', 'terminated', 'gone'].includes(instance.state),
    ...(instance.describedAt === undefined ? {} : { stateReadAt: instance.describedAt }),
    volumes: volumes.filter((v) => !kept.includes(v)),
    ...(taint && node ? { taintNode: node.name, ...(node.uid ? { nodeUid: node.uid } : {}) } : {}),
    evictPods: pods.evicted,
    controllersDetach: fenced,
    ...(settings.deleteTerminatedNodes &&
    node &&
    (instance.state === 'terminated' || instance.state === 'gone')
      ? { deleteNode: { name: node.name, ...(node.uid ? { uid: node.uid } : {}) } }
      : {}),
    skipped,
  };
}

/**
 * The pods of a dead instance's Node, sorted: those to evict, and the volumes of those that
 * stay. A gone Node's pods are all PodGC's orphans; a fenced Node's (`taint` on it) are evicted
 * unless they tolerate the taint for good (DaemonSets such as aws-node, kube-proxy and
 * ebs-csi-node tolerate everything), a pod that tolerates it for a while after that while; an
 * unfenced Node's all stay.
 */
function podsOfDeadNode(
  observation: Pick<Observation, 'node' | 'pods' | 'attachments'>,
  taint: Taint | undefined,
): { evicted: PodRef[]; usersOf: (volumeId: string) => string[] } {
  const evicted: PodRef[] = [];
  const users = new Map<string, string[]>();
  const claimed = new Map(
    observation.attachments.flatMap(({ claim, volumeId }) =>
      claim && volumeId ? [[claim, volumeId] as const] : [],
    ),
  );
  for (const pod of observation.pods ?? []) {
    const stays = taint ? toleratedForMs(pod.tolerations, taint) : Number.POSITIVE_INFINITY;
    if (observation.node === undefined || stays !== Number.POSITIVE_INFINITY) {
      const { namespace, name, uid, deleting, evictedByTaintManager } = pod;
      evicted.push({
        namespace,
        name,
        uid,
        deleting,
        ...(evictedByTaintManager ? { evictedByTaintManager } : {}),
        ...(observation.node && stays > 0 ? { toleratedForMs: stays } : {}),
      });
      continue;
    }
    const used = [
      ...pod.claims.flatMap((claim) => claimed.get(`${pod.namespace}/${claim}`) ?? []),
      ...pod.inlineVolumeIds,
    ];
    for (const volumeId of used) {
      users.set(volumeId, [...(users.get(volumeId) ?? []), `${pod.namespace}/${pod.name}`]);
    }
  }
  return { evicted, usersOf: (volumeId) => users.get(volumeId) ?? [] };
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
  const ours = node.taints.some(isOurOutOfServiceTaint);
  if (!ours) {
    return {
      outcome: 'skipped',
      instanceId,
      reason: 'no out-of-service taint of ours on the Node',
    };
  }
  return {
    outcome: 'lift-taint',
    instanceId,
    nodeName: node.name,
    ...(node.uid ? { nodeUid: node.uid } : {}),
  };
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
 * How many destructive actions a set of plans would take: detaches, VolumeAttachment
 * deletions, taints and Node deletions. Finalizer removals and force detaches are fallbacks;
 * a dead Node's pods are not counted: they died with their instance, and a Node with many
 * pods is no more a sign of a wrong event than one with few.
 */
export function destructiveActions(plans: readonly InstancePlan[]): number {
  return plans.reduce((sum, plan) => {
    if (plan.outcome !== 'remediate') return sum;
    const detaches = plan.volumes.filter((v) => v.detach).length;
    const deletions = plan.volumes.reduce((n, v) => n + v.attachments.length, 0);
    const nodeActions = (plan.taintNode ? 1 : 0) + (plan.deleteNode ? 1 : 0);
    return sum + detaches + deletions + nodeActions;
  }, 0);
}

export interface CircuitBreakerLimits {
  /** MAX_ACTIONS_PER_INVOCATION: destructive actions one invocation or sweep may take. */
  readonly maxActions: number;
  /** MAX_DEAD_NODE_PERCENT: the share of the cluster's Nodes that may look dead at once. */
  readonly maxDeadNodePercent: number;
}

/**
 * The share of Nodes that look dead: those whose Ready condition is reported and not True,
 * those carrying our out-of-service taint (so that invocations running at once in a mass stop
 * see each other's dead before Kubernetes marks them NotReady), and those of instances the plans
 * would remediate. A Node that reports no condition yet (a kubelet registering) does not count
 * as dead.
 */
export function deadNodePercent(nodes: readonly NodeFacts[], plans: readonly InstancePlan[]) {
  if (nodes.length === 0) return 0;
  const remediated = new Set(
    plans.flatMap((p) => (p.outcome === 'remediate' && p.nodeName ? [p.nodeName] : [])),
  );
  const dead = nodes.filter(
    (n) => n.ready === false || n.taints.some(isOurOutOfServiceTaint) || remediated.has(n.name),
  ).length;
  return (100 * dead) / nodes.length;
}

/**
 * The circuit breaker, decided before the first action: when the plans together would take more
 * destructive actions than allowed, or more of the cluster's Nodes than allowed look dead at
 * once, every plan that would act is refused instead (as Medik8s refuses below minHealthy): that
 * much death at once more likely means a wrong event, a wrong state or a partition than a real
 * mass failure. A dry-run comes to the same refusal.
 */
export function applyCircuitBreaker(
  plans: readonly InstancePlan[],
  limits: CircuitBreakerLimits,
  nodes: readonly NodeFacts[],
): InstancePlan[] {
  const actions = destructiveActions(plans);
  const deadPercent = deadNodePercent(nodes, plans);
  let reason: string | undefined;
  if (actions > limits.maxActions) {
    reason = `circuit breaker: ${actions} destructive actions in one invocation, more than MAX_ACTIONS_PER_INVOCATION=${limits.maxActions}`;
  } else if (deadPercent > limits.maxDeadNodePercent) {
    reason = `circuit breaker: ${Math.round(deadPercent)}% of the cluster's ${nodes.length} Nodes look dead at once, more than MAX_DEAD_NODE_PERCENT=${limits.maxDeadNodePercent}`;
  }
  if (!reason) return [...plans];
  const refusal = reason;
  return plans.map((plan) =>
    plan.outcome !== 'remediate'
      ? plan
      : {
          outcome: 'refused',
          instanceId: plan.instanceId,
          state: plan.state,
          ...(plan.nodeName ? { nodeName: plan.nodeName } : {}),
          reason: refusal,
        },
  );
}
