/**
 * The pods a dead instance's Node keeps from running: scheduled on a live Node, Pending, using a
 * claim whose volume a VolumeAttachment still binds to the dead one. The attach/detach
 * controller will not attach a ReadWriteOnce volume that is attached elsewhere (the pod's
 * `Multi-Attach error` Event): this is what users see, found from the objects alone (the
 * remediator may not read Events).
 */
import type { StuckPod } from '../contract/result-events.ts';
import type { AttachmentFacts, NodeFacts, PodFacts } from './facts.ts';
import type { KubernetesPort } from './ports.ts';

/** A stale VolumeAttachment, with the instance whose Node it binds the volume to. */
export interface HeldVolume {
  readonly attachment: AttachmentFacts;
  readonly instanceId: string;
}

/** The claim (namespace/name) each held volume's PersistentVolume is bound to. */
async function claimsOf(
  held: readonly HeldVolume[],
  kube: Pick<KubernetesPort, 'readPersistentVolume'>,
): Promise<Map<string, HeldVolume>> {
  const claims = new Map<string, HeldVolume>();
  await Promise.all(
    held.map(async (h) => {
      const pvName = h.attachment.persistentVolumeName;
      const pv = pvName ? await kube.readPersistentVolume(pvName) : undefined;
      if (pv?.claim) claims.set(pv.claim, h);
    }),
  );
  return claims;
}

/** Pods on a live Node that wait for a volume a dead instance's Node holds. */
export async function podsStuckBehind(
  held: readonly HeldVolume[],
  nodes: readonly NodeFacts[],
  kube: Pick<KubernetesPort, 'readPersistentVolume' | 'listPods'>,
): Promise<StuckPod[]> {
  const claims = await claimsOf(held, kube);
  if (claims.size === 0) return [];
  const live = new Set(nodes.filter((n) => n.ready === true).map((n) => n.name));
  const namespaces = new Set([...claims.keys()].map((claim) => claim.split('/')[0] ?? ''));
  const pods = (await Promise.all([...namespaces].map((ns) => kube.listPods(ns)))).flat();
  return pods.flatMap((pod) => stuckOn(pod, claims, live));
}

function stuckOn(
  pod: PodFacts,
  claims: ReadonlyMap<string, HeldVolume>,
  live: ReadonlySet<string>,
): StuckPod[] {
  if (pod.phase !== 'Pending' || pod.deleting || !pod.nodeName || !live.has(pod.nodeName)) {
    return [];
  }
  return pod.claims.flatMap((claim) => {
    const held = claims.get(`${pod.namespace}/${claim}`);
    if (!held || held.attachment.nodeName === pod.nodeName) return [];
    return [
      {
        pod: `${pod.namespace}/${pod.name}`,
        node: pod.nodeName ?? '',
        claim,
        ...(held.attachment.persistentVolumeName
          ? { persistentVolume: held.attachment.persistentVolumeName }
          : {}),
        heldBy: held.attachment.nodeName,
        instanceId: held.instanceId,
      },
    ];
  });
}
