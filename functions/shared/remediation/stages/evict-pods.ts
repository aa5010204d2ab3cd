/**
 * Evict the dead Node's pods: force-delete them (as PodGC does for an out-of-service Node,
 * without its wait for NotReady) once the taint-eviction controller's own delete has landed,
 * or at once when the Node is gone. A pod that tolerates the taint for good stays, and so do the
 * volumes it uses.
 */
import type { ActionRecord } from '../../contract/result-events.ts';
import { RemediationError } from '../../util/errors.ts';
import type { Observation, PodFacts, Taint } from '../facts.ts';
import { pollUntil, unlessUnknown } from '../polling.ts';
import { type PodRef, podObject, type VolumeInUse } from '../refs.ts';
import { toleratedForMs } from '../tolerations.ts';
import { type FenceStep, fencingTaint } from './fence-node.ts';
import type { PlanBasics, Stage, StageRun } from './stage.ts';

export interface EvictStep {
  /**
   * The pods bound to the dead Node that do not tolerate the taint: force-deleted once the
   * taint-eviction controller's own delete has landed, or at once when the Node is gone.
   */
  readonly evictPods: readonly PodRef[];
  /** The volumes of the pods that stay. */
  readonly volumesInUse?: readonly VolumeInUse[];
}

/** What evicting reads: the taint planned before it, and whether the Node is fenced. */
type EvictReads = FenceStep & { readonly controllersDetach: boolean };

export const evictPods: Stage<EvictStep, EvictReads> = {
  name: "evict the Node's pods",

  plan(planning) {
    const { evicted, volumesInUse } = podsOfDeadNode(planning.observation, fencingTaint(planning));
    return { evictPods: evicted, volumesInUse };
  },

  plannedActions: (plan) => plan.evictPods.map(() => 'delete-pod' as const),

  async run(plan, run) {
    const evictions = await Promise.all(plan.evictPods.map((pod) => evictPod(plan, pod, run)));
    // A pod still bound to the Node keeps its volumes there: the attach/detach controller would
    // attach back what was taken from under it.
    return evictions.some((e) => e.outcome === 'failed') ? 'stop' : 'next';
  },
};

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
): { evicted: PodRef[]; volumesInUse: VolumeInUse[] } {
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
      evicted.push(refOfPod(pod, observation.node && stays > 0 ? stays : undefined));
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
  return {
    evicted,
    volumesInUse: [...users].map(([volumeId, pods]) => ({ volumeId, pods })),
  };
}

function refOfPod(pod: PodFacts, toleratedFor: number | undefined): PodRef {
  const { namespace, name, uid, deleting, evictedByTaintManager, owner } = pod;
  return {
    namespace,
    name,
    uid,
    deleting,
    ...(owner ? { owner } : {}),
    ...(pod.claims.length > 0 || pod.inlineVolumeIds.length > 0 ? { usesVolumes: true } : {}),
    ...(evictedByTaintManager ? { evictedByTaintManager } : {}),
    ...(toleratedFor === undefined ? {} : { toleratedForMs: toleratedFor }),
  };
}

/** Why a force delete was safe: what its Event and record say. */
const safeOnFencedNode =
  "its Node carries the out-of-service taint and the taint-eviction controller's own delete had landed";
const safeOnGoneNode = 'its Node is gone or untainted, and it does not tolerate the taint';

/**
 * Force-deletes one pod of the dead Node with its uid as precondition. On a fenced Node only
 * once the taint-eviction controller's own delete has landed: that controller deletes by name,
 * and a force delete before its own would let it delete the StatefulSet's replacement, which
 * has the same name. However slow it is (a zone outage queues its work), it is never raced:
 * after the eviction grace the remediator deletes the pod gracefully itself (by uid: nothing
 * but that pod can be hit, and it only turns Terminating on a dead Node), which PodGC
 * force-deletes once the Node is NotReady, and the action fails so the retry looks again.
 */
function evictPod(
  plan: PlanBasics & EvictReads,
  pod: PodRef,
  run: StageRun,
): Promise<ActionRecord> {
  const { deps, options, recorder } = run;
  const target = { pod: `${pod.namespace}/${pod.name}`, regarding: podObject(pod) };
  return recorder.run('delete-pod', target, async () => {
    if (options.dryRun) return { outcome: 'planned' };
    if (plan.controllersDetach && !pod.evictedByTaintManager) {
      const gone = await awaitTaintManager(pod, run);
      if (gone) return { outcome: 'already-done' };
    }
    const answer = await deps.kube.deletePod(pod.namespace, pod.name, pod.uid, 'force');
    if (answer === 'not-found') return { outcome: 'already-done' };
    return { outcome: 'done', detail: plan.controllersDetach ? safeOnFencedNode : safeOnGoneNode };
  });
}

/**
 * Waits for the taint-eviction controller's own delete of the pod: resolves true when the pod
 * is gone already, false once that delete landed; throws when the grace passed without it.
 */
async function awaitTaintManager(pod: PodRef, { deps, options }: StageRun): Promise<boolean> {
  const { kube } = deps;
  const named = `${pod.namespace}/${pod.name}`;
  let current: PodFacts | undefined;
  // A pod that tolerates the taint for a while is evicted once that while is over.
  const graceMs = options.evictionGraceMs + (pod.toleratedForMs ?? 0);
  const waited = await pollUntil(
    async () => {
      current = await kube.readPod(pod.namespace, pod.name);
      return current === undefined || current.uid !== pod.uid || current.evictedByTaintManager;
    },
    graceMs,
    deps,
    100,
  );
  unlessUnknown(waited, `reading pod ${named} before deleting it`);
  if (current === undefined || current.uid !== pod.uid) return true;
  if (waited.met) return false;
  if (!current.deleting) await kube.deletePod(pod.namespace, pod.name, pod.uid, 'graceful');
  const deleting = current.deleting
    ? 'someone else is deleting it'
    : `deleted it gracefully (uid ${pod.uid})`;
  throw new RemediationError(
    `pod ${named}: the taint-eviction controller had not evicted it after ` +
      `${graceMs / 1000}s; ${deleting}, so PodGC force-deletes it once the Node is ` +
      'NotReady; not force-deleted, since that controller deletes by name and could then ' +
      'delete the replacement (the retry of the event finishes it)',
  );
}
