/**
 * Watches the outcome a user waits for after a node dies: the replica's replacement pod Running
 * on another node with its volume attached. Records when each step of the recovery happened, in
 * seconds from the death, and counts the fights with Kubernetes' controllers: VolumeAttachments
 * created again for the dead node, and attaches of the volume to the dead instance in EC2.
 * Vitest-free: the tests, the demo and the benchmarks use it.
 */
import { readEc2Log } from './ec2-as-it-behaves/index.ts';
import type { TestNode } from './fixtures.ts';
import {
  hasVolumeAttached,
  type Replica,
  type StatefulCluster,
  sleep,
} from './stateful-cluster.ts';

export interface RecoveryTimeline {
  /** Seconds from the death until the old pod object was gone. */
  readonly oldPodGone?: number;
  /** ... until a replacement pod was bound to another node. */
  readonly replacementScheduled?: number;
  /** ... until that node reported the volume attached. */
  readonly volumeAttached?: number;
  /** ... until the replacement pod was Running with its volume: the recovery. */
  readonly replacementRunning?: number;
  readonly replacementNode?: string;
  /** VolumeAttachments for the dead node that appeared after the death. */
  readonly volumeAttachmentsRecreated: number;
  /** Attaches of the replica's volume to the dead instance in EC2 after the death. */
  readonly reattachmentsToDeadInstance: number;
  /**
   * Replacement pods seen that were deleted again (another pod under the name took their place):
   * what a delete by name that landed late on the replacement looks like.
   */
  readonly replacementsDeleted: number;
  /** Whether the replacement was Running before the watch gave up. */
  readonly recovered: boolean;
}

export interface DeadReplica {
  readonly cluster: StatefulCluster;
  readonly replica: Replica;
  readonly deadNode: TestNode;
  /** The old pod's uid. */
  readonly oldUid: string;
  /** The dead Node's uid. */
  readonly nodeUid: string;
  /** The VolumeAttachments of the dead node that existed at the death. */
  readonly attachmentsAtDeath: ReadonlySet<string>;
  /** When the instance died (ms since the epoch). */
  readonly diedAt: number;
}

/** Records what exists at the moment of the death, to tell later what is new. */
export async function beforeDeath(
  cluster: StatefulCluster,
  replica: Replica,
): Promise<Omit<DeadReplica, 'diedAt'>> {
  const deadNode = await cluster.nodeOf(replica);
  const oldUid = (await cluster.pod(replica))?.metadata?.uid ?? '';
  const nodeUid = (await cluster.node(deadNode.nodeName))?.metadata?.uid ?? '';
  const attachmentsAtDeath = new Set((await cluster.volumeAttachmentsOf(deadNode.nodeName)).keys());
  return { cluster, replica, deadNode, oldUid, nodeUid, attachmentsAtDeath };
}

/**
 * Polls until the replacement pod is Running with its volume and then for `settleMs` more
 * (to catch a controller undoing the recovery), or until `timeoutMs` from the death.
 */
// biome-ignore lint/complexity/noExcessiveCognitiveComplexity: one polling loop that records each step of the recovery timeline (pod gone, scheduled, attached, Running, settled) as it first sees it; split, the steps would share their state through arguments
export async function watchRecovery(
  dead: DeadReplica,
  ec2Log: string,
  options: { readonly timeoutMs: number; readonly settleMs?: number; readonly pollMs?: number },
): Promise<RecoveryTimeline> {
  const { cluster, replica, deadNode } = dead;
  const since = (at: number) => Number(((at - dead.diedAt) / 1000).toFixed(1));
  const recreated = new Set<string>();
  const replacements = new Set<string>();
  let oldPodGone: number | undefined;
  let replacementScheduled: number | undefined;
  let volumeAttached: number | undefined;
  let replacementRunning: number | undefined;
  let replacementNode: string | undefined;
  let runningSince: number | undefined;
  for (;;) {
    const now = Date.now();
    const [pod, attachments] = await Promise.all([
      cluster.pod(replica),
      cluster.volumeAttachmentsOf(deadNode.nodeName),
    ]);
    for (const uid of attachments.keys()) {
      if (!dead.attachmentsAtDeath.has(uid)) recreated.add(uid);
    }
    const replacement = pod && pod.metadata?.uid !== dead.oldUid ? pod : undefined;
    if (replacement?.metadata?.uid) replacements.add(replacement.metadata.uid);
    if (oldPodGone === undefined && pod?.metadata?.uid !== dead.oldUid) oldPodGone = since(now);
    const nodeName = replacement?.spec?.nodeName;
    if (nodeName && nodeName !== deadNode.nodeName) {
      replacementNode = nodeName;
      replacementScheduled ??= since(now);
      if (
        volumeAttached === undefined &&
        hasVolumeAttached(await cluster.node(nodeName), replica.volumeId)
      ) {
        volumeAttached = since(now);
      }
      if (replacement?.status?.phase === 'Running' && volumeAttached !== undefined) {
        replacementRunning ??= since(now);
        runningSince ??= now;
      }
    }
    const settled = runningSince !== undefined && now - runningSince >= (options.settleMs ?? 0);
    if (settled || now - dead.diedAt >= options.timeoutMs) break;
    await sleep(options.pollMs ?? 250);
  }
  const reattachments = readEc2Log(ec2Log).filter(
    (e) =>
      e.action === 'attach' &&
      e.instanceId === deadNode.instanceId &&
      e.volumeId === replica.volumeId &&
      Date.parse(e.time) > dead.diedAt,
  ).length;
  return {
    ...(oldPodGone !== undefined ? { oldPodGone } : {}),
    ...(replacementScheduled !== undefined ? { replacementScheduled } : {}),
    ...(volumeAttached !== undefined ? { volumeAttached } : {}),
    ...(replacementRunning !== undefined ? { replacementRunning } : {}),
    ...(replacementNode !== undefined ? { replacementNode } : {}),
    volumeAttachmentsRecreated: recreated.size,
    reattachmentsToDeadInstance: reattachments,
    replacementsDeleted: Math.max(replacements.size - 1, 0),
    recovered: replacementRunning !== undefined,
  };
}
