/**
 * The Kubernetes objects the remediator reads, mapped to the plain facts the planner decides on
 * (remediation/facts.ts). Pure.
 */
// Types only (erased from the bundle): the objects as the API serves them.
import type {
  V1Node,
  V1PersistentVolume,
  V1Pod,
  V1VolumeAttachment,
} from '@kubernetes/client-node';
import {
  controlPlaneLabels,
  csiNodeIdAnnotation,
  fenceOptOutAnnotation,
  taintEvictionReason,
} from '../contract/kubernetes-identity.ts';
import { parseEbsVolumeId } from '../identity/aws-ids.ts';
import { isEbsAttacher } from '../identity/volume-attachment-name.ts';
import type {
  AttachmentFacts,
  NodeFacts,
  PersistentVolumeFacts,
  PodFacts,
  Taint,
} from '../remediation/facts.ts';

/** A time as the API serves it (RFC 3339, MicroTime included), in epoch ms. */
export function epochMs(time: unknown): number | undefined {
  if (time === undefined || time === null) return undefined;
  const at = Date.parse(String(time instanceof Date ? time.toISOString() : time));
  return Number.isNaN(at) ? undefined : at;
}

export function nodeFacts(node: V1Node): NodeFacts {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const heartbeat = ready?.status === 'True' ? epochMs(ready.lastHeartbeatTime) : undefined;
  const notReadySince =
    ready && ready.status !== 'True' ? epochMs(ready.lastTransitionTime) : undefined;
  const labels = node.metadata?.labels ?? {};
  return {
    name: node.metadata?.name ?? '',
    ...(node.metadata?.uid ? { uid: node.metadata.uid } : {}),
    ...(ready ? { ready: ready.status === 'True' } : {}),
    ...(heartbeat === undefined ? {} : { readyHeartbeatAt: heartbeat }),
    ...(notReadySince === undefined ? {} : { notReadySince }),
    ...(controlPlaneLabels.some((label) => label in labels) ? { controlPlane: true } : {}),
    ...(node.metadata?.annotations?.[fenceOptOutAnnotation] === 'false'
      ? { fenceOptOut: true }
      : {}),
    ...(node.spec?.providerID ? { providerId: node.spec.providerID } : {}),
    taints: (node.spec?.taints ?? []).map((t) => ({
      key: t.key,
      effect: t.effect,
      ...(t.value === undefined ? {} : { value: t.value }),
    })),
  };
}

export function attachmentFacts(attachment: V1VolumeAttachment): AttachmentFacts {
  const inline = attachment.spec.source.inlineVolumeSpec;
  const inlineReference = inline?.csi?.volumeHandle ?? inline?.awsElasticBlockStore?.volumeID;
  const nodeId = attachment.metadata?.annotations?.[csiNodeIdAnnotation];
  return {
    name: attachment.metadata?.name ?? '',
    ...(attachment.metadata?.uid ? { uid: attachment.metadata.uid } : {}),
    attacher: attachment.spec.attacher,
    nodeName: attachment.spec.nodeName,
    ...(nodeId ? { nodeIdAnnotation: nodeId } : {}),
    ...(attachment.spec.source.persistentVolumeName
      ? { persistentVolumeName: attachment.spec.source.persistentVolumeName }
      : {}),
    ...(inlineReference ? { inlineVolumeReference: inlineReference } : {}),
    deleting: attachment.metadata?.deletionTimestamp !== undefined,
    finalizers: attachment.metadata?.finalizers ?? [],
    ...(attachment.metadata?.resourceVersion
      ? { resourceVersion: attachment.metadata.resourceVersion }
      : {}),
    ...(attachment.status?.attached === undefined ? {} : { attached: attachment.status.attached }),
    ...(attachment.status?.attachError?.message
      ? { attachError: attachment.status.attachError.message }
      : {}),
  };
}

export function podFacts(pod: V1Pod): PodFacts {
  const deleting = pod.metadata?.deletionTimestamp !== undefined;
  const evicted = (pod.status?.conditions ?? []).some(
    (c) => c.type === 'DisruptionTarget' && c.status === 'True' && c.reason === taintEvictionReason,
  );
  const name = pod.metadata?.name ?? '';
  const volumes = pod.spec?.volumes ?? [];
  return {
    namespace: pod.metadata?.namespace ?? '',
    name,
    uid: pod.metadata?.uid ?? '',
    deleting,
    evictedByTaintManager: deleting && evicted,
    tolerations: (pod.spec?.tolerations ?? []).map(
      ({ key, operator, value, effect, tolerationSeconds }) => ({
        ...(key === undefined ? {} : { key }),
        ...(operator === undefined ? {} : { operator }),
        ...(value === undefined ? {} : { value }),
        ...(effect === undefined ? {} : { effect }),
        ...(tolerationSeconds === undefined ? {} : { tolerationSeconds }),
      }),
    ),
    // A generic ephemeral volume's claim is named <pod>-<volume> (Kubernetes' ephemeral controller).
    claims: volumes.flatMap((v) =>
      v.persistentVolumeClaim
        ? [v.persistentVolumeClaim.claimName]
        : v.ephemeral
          ? [`${name}-${v.name}`]
          : [],
    ),
    inlineVolumeIds: volumes.flatMap((v) => {
      const id = parseEbsVolumeId(v.awsElasticBlockStore?.volumeID);
      return id ? [id] : [];
    }),
    ...podProgress(pod),
  };
}

/** Where a pod is on its way to Running: its controller, Node, phase, and why it waits. */
function podProgress(pod: V1Pod): Partial<PodFacts> {
  const owner = pod.metadata?.ownerReferences?.find((ref) => ref.controller);
  const phase = pod.status?.phase;
  const started = (pod.status?.containerStatuses ?? []).flatMap((status) => {
    const at = status.state?.running?.startedAt;
    return at ? [new Date(at).getTime()] : [];
  });
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  return {
    ...(owner ? { owner: { kind: owner.kind, uid: owner.uid } } : {}),
    ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    ...(phase ? { phase } : {}),
    ...(phase === 'Running' && started.length > 0 ? { runningSince: Math.max(...started) } : {}),
    ...(scheduled?.status === 'False'
      ? { unschedulable: scheduled.message ?? scheduled.reason ?? 'not scheduled' }
      : {}),
  };
}

/** Whether two taints are the same taint (an absent value is an empty one). */
export const sameTaint = (a: Taint, b: Taint) =>
  a.key === b.key && (a.value ?? '') === (b.value ?? '') && a.effect === b.effect;

/** A PersistentVolume: its EBS volume reference (CSI or in-tree) and the claim bound to it. */
export function persistentVolumeFacts(name: string, pv: V1PersistentVolume): PersistentVolumeFacts {
  const csi = pv.spec?.csi;
  const reference = isEbsAttacher(csi?.driver)
    ? csi?.volumeHandle
    : pv.spec?.awsElasticBlockStore?.volumeID;
  const claim = pv.spec?.claimRef;
  return {
    name,
    ...(reference ? { volumeReference: reference } : {}),
    ...(claim?.name ? { claim: `${claim.namespace ?? ''}/${claim.name}` } : {}),
  };
}
