/**
 * Free what the controllers left: detach in EC2 (forced only as a last resort, while EC2
 * reports the instance off), then delete the VolumeAttachments. Only a volume that a
 * PersistentVolume or VolumeAttachment of the cluster names is the cluster's; the root volume
 * and node-level volumes (DeleteOnTermination) are never touched, and a volume a staying pod uses
 * stays attached.
 */
import type { Skipped } from '../../contract/result-events.ts';
import { attacherFinalizerOf } from '../../identity/volume-attachment-name.ts';
import { messageOf, RemediationError } from '../../util/errors.ts';
import { type AttachmentFacts, isOff, type Observation } from '../facts.ts';
import { holdsVolume } from '../matching.ts';
import { pollUntil, unlessUnknown } from '../polling.ts';
import { type ActionTarget, notStarted } from '../recorder.ts';
import {
  type AttachmentRef,
  attachmentObject,
  type VolumeInUse,
  type VolumeTask,
} from '../refs.ts';
import type { PlanBasics, Stage, StageRun } from './stage.ts';

export interface FreeStep {
  /** The volumes to free, with the VolumeAttachments that bind them to the instance. */
  readonly volumes: readonly VolumeTask[];
  /** The volumes and VolumeAttachments of the instance left alone, and why. */
  readonly skipped: readonly Skipped[];
}

/** What freeing reads: the volumes the pods that stay use (evict-pods.ts plans them). */
type FreeReads = { readonly volumesInUse?: readonly VolumeInUse[] };

export const freeVolumes: Stage<FreeStep, FreeReads> = {
  name: 'free what the controllers left',

  plan({ observation, settings, before }) {
    const skipped: Skipped[] = [];
    const attachments = attachmentsByVolume(observation, skipped);
    const volumes = volumeTasks(observation, attachments, settings.clusterName, skipped);
    // A volume a staying pod uses stays attached: freeing it would make the attach/detach
    // controller attach it back. Every other volume goes on.
    const inUse = new Map((before.volumesInUse ?? []).map((v) => [v.volumeId, v]));
    for (const volume of volumes) {
      const use = inUse.get(volume.volumeId);
      if (use) skipped.push(keptFor(use));
    }
    return { volumes: volumes.filter((v) => !inUse.has(v.volumeId)), skipped };
  },

  plannedActions: (plan) =>
    plan.volumes.flatMap((v) => [
      ...(v.detach ? (['detach-volume'] as const) : []),
      ...v.attachments.map(() => 'delete-volumeattachment' as const),
    ]),

  async run(plan, run) {
    // What the controllers freed is theirs (await-controllers.ts recorded it).
    const freedByControllers = new Set(
      run.recorder.records
        .filter((r) => r.action === 'controllers-detached' && r.outcome === 'done')
        .map((r) => r.volumeId),
    );
    const left = plan.volumes.filter((task) => !freedByControllers.has(task.volumeId));
    // Independent volumes at once: 20 volumes take about as long as one.
    await Promise.all(left.map((task) => freeVolume(plan, task, run)));
    return 'next';
  },
};

/** The instance's VolumeAttachments by EBS volume; one tied to no EBS volume is skipped. */
function attachmentsByVolume(
  observation: Observation,
  skipped: Skipped[],
): Map<string, AttachmentRef[]> {
  const byVolume = new Map<string, AttachmentRef[]>();
  for (const { attachment, volumeId } of observation.attachments) {
    if (!volumeId) {
      skipped.push({
        kind: 'volumeattachment',
        name: attachment.name,
        reason: 'cannot tie it to an EBS volume (no PersistentVolume with an EBS volume id)',
      });
      continue;
    }
    byVolume.set(volumeId, [
      ...(byVolume.get(volumeId) ?? []),
      { name: attachment.name, ...(attachment.uid ? { uid: attachment.uid } : {}) },
    ]);
  }
  return byVolume;
}

/**
 * The volumes of the cluster to free: each that EC2 holds on the instance and the cluster names
 * (detached, then its attachments deleted), and each the cluster still binds to the instance
 * that EC2 no longer holds (only the Kubernetes side is left).
 */
function volumeTasks(
  observation: Observation,
  attachmentsByVolume: ReadonlyMap<string, readonly AttachmentRef[]>,
  clusterName: string,
  skipped: Skipped[],
): VolumeTask[] {
  const { instance } = observation;
  const volumes: VolumeTask[] = [];
  const heldByEc2 = new Set<string>();
  for (const volume of observation.volumesInEc2) {
    const attachment = volume.attachments.find((a) => a.instanceId === instance.instanceId);
    if (!attachment || !holdsVolume(volume, instance.instanceId)) continue;
    heldByEc2.add(volume.volumeId);
    const reason = nodeLevel(attachment, instance.rootDeviceName);
    if (reason || !attachmentsByVolume.has(volume.volumeId)) {
      skipped.push({
        kind: 'volume',
        name: volume.volumeId,
        reason: reason ?? notNamed(clusterName),
      });
      continue;
    }
    volumes.push({
      volumeId: volume.volumeId,
      detach: { device: attachment.device },
      attachments: attachmentsByVolume.get(volume.volumeId) ?? [],
    });
  }
  for (const [volumeId, attachments] of attachmentsByVolume) {
    if (!heldByEc2.has(volumeId)) volumes.push({ volumeId, attachments });
  }
  return volumes;
}

/** Why a volume EC2 holds on the instance is a node-level volume, never a PersistentVolume's. */
function nodeLevel(
  attachment: { readonly device: string; readonly deleteOnTermination?: boolean },
  rootDeviceName: string | undefined,
): string | undefined {
  if (rootDeviceName !== undefined && attachment.device === rootDeviceName)
    return 'the root volume';
  if (attachment.deleteOnTermination) {
    return 'DeleteOnTermination is set: a node-level volume (root or data), never a PersistentVolume';
  }
  return undefined;
}

/**
 * Only a PersistentVolume or VolumeAttachment of the cluster makes a volume the cluster's:
 * Karpenter and kOps copy cluster tags onto node volumes, so a tag proves nothing.
 */
const notNamed = (clusterName: string) =>
  `not a volume of cluster ${clusterName}: no PersistentVolume or VolumeAttachment of the cluster names it (a tag alone never does)`;

function keptFor(use: VolumeInUse): Skipped {
  return {
    kind: 'volume',
    name: use.volumeId,
    reason:
      `kept: pod ${use.pods.slice(0, 3).join(', ')} stays bound to the dead Node (it tolerates the ` +
      'out-of-service taint, or none was added) and uses it; freeing it would make the ' +
      'attach/detach controller attach it back',
  };
}

/** Frees one volume: detach (forced only as a last resort), then delete its VolumeAttachments. */
async function freeVolume(plan: PlanBasics, task: VolumeTask, run: StageRun): Promise<void> {
  if (task.detach) {
    const [attachment] = task.attachments;
    const target = {
      volumeId: task.volumeId,
      ...(attachment ? { regarding: attachmentObject(attachment) } : {}),
    };
    const detach = await run.recorder.run('detach-volume', target, () =>
      detachVolume(plan, task, run),
    );
    if (detach.outcome === 'failed') return;
  }
  // Only now that EC2 no longer holds the volume on this instance may its attachments go.
  await Promise.all(task.attachments.map((ref) => deleteAttachment(ref, task.volumeId, run)));
}

async function detachVolume(plan: PlanBasics, task: VolumeTask, run: StageRun) {
  const { deps, options, isReleased } = run;
  const { instanceId } = plan;
  const { volumeId } = task;
  const released = () => isReleased(volumeId);
  if (options.dryRun)
    return { outcome: 'planned' as const, detail: `would detach ${task.detach?.device}` };
  const answer = await deps.ec2.detachVolume(volumeId, instanceId, false);
  const checking = `checking whether EC2 released ${volumeId} from ${instanceId}`;
  if (unlessUnknown(await pollUntil(released, options.detachTimeoutMs, deps), checking)) {
    return {
      outcome: answer === 'already-detached' ? ('already-done' as const) : ('done' as const),
    };
  }
  const waited = `${options.detachTimeoutMs / 1000}s`;
  await mayForce(plan, volumeId, waited, run);
  await deps.ec2.detachVolume(volumeId, instanceId, true);
  if (unlessUnknown(await pollUntil(released, options.forceDetachTimeoutMs, deps), checking)) {
    return {
      action: 'force-detach-volume' as const,
      outcome: 'done' as const,
      detail: `plain detach unfinished after ${waited}; forced`,
    };
  }
  throw new Error(
    `${volumeId} still attached to ${instanceId} ${options.forceDetachTimeoutMs / 1000}s after a forced detach`,
  );
}

/** Throws, saying why, unless a plain detach that did not finish may be forced now. */
async function mayForce(plan: PlanBasics, volumeId: string, waited: string, run: StageRun) {
  const { deps } = run;
  const { instanceId } = plan;
  if (deps.deadline !== undefined && Date.now() >= deps.deadline) {
    // The wait was cut short: forcing now could be cut off half done.
    throw new Error(`${volumeId} still attached to ${instanceId}; force ${notStarted}`);
  }
  if (!plan.forceAllowed) {
    throw new Error(
      `${volumeId} still attached to ${instanceId} after ${waited}, and force is not ` +
        `allowed while the instance is ${plan.state}`,
    );
  }
  // Re-check right before the irreversible: an instance that came back keeps its volume.
  const current = (await deps.ec2.describeInstances([instanceId])).get(instanceId)?.state;
  if (!isOff(current)) {
    throw new Error(
      `${volumeId} still attached to ${instanceId} after ${waited}, and EC2 now reports the ` +
        `instance ${current ?? 'unknown'}: no force detach`,
    );
  }
}

async function deleteAttachment(ref: AttachmentRef, volumeId: string, run: StageRun) {
  const { deps, options, recorder } = run;
  const { name, uid } = ref;
  const target = { volumeId, volumeAttachment: name, regarding: attachmentObject(ref) };
  let beingDeleted = false;
  await recorder.run('delete-volumeattachment', target, async () => {
    if (options.dryRun) return { outcome: 'planned' };
    const answer = await deps.kube.deleteVolumeAttachment(name, uid);
    beingDeleted = answer !== 'not-found';
    // Counted once, by whoever's deletion landed: another run's counts as already done here.
    return { outcome: answer === 'deleted' ? 'done' : 'already-done' };
  });
  if (beingDeleted) await releaseFinalizer(ref, target, run);
}

/**
 * A running external-attacher removes its finalizer within moments of a deletion; one that
 * does not answer within the attacher grace leaves it to the remediator, on the object deleted
 * a moment ago only.
 */
async function releaseFinalizer(ref: AttachmentRef, target: ActionTarget, run: StageRun) {
  const { deps, options, recorder } = run;
  const { kube } = deps;
  const { name, uid } = ref;
  // First a moment: the attacher cannot have acted on a deletion that has only just landed.
  let last: AttachmentFacts | undefined;
  const waited = await pollUntil(
    async () => {
      last = await kube.readVolumeAttachment(name);
      return last === undefined;
    },
    options.attacherGraceMs,
    deps,
    500,
    true,
  );
  if (!waited.met && waited.lastError !== undefined) {
    // Whether the attacher let go is unknown: say so, so the run fails and its retry looks again.
    await recorder.run('remove-finalizer', target, async () => {
      throw new RemediationError(
        `reading VolumeAttachment ${name} to see whether its attacher released it: ${messageOf(waited.lastError)}`,
      );
    });
    return;
  }
  const stuck = last;
  // Only the object deleted a moment ago: one created again under its name is someone else's.
  if (waited.met || !stuck || stuck.uid !== uid) return;
  const finalizer = attacherFinalizerOf(stuck.attacher);
  if (!stuck.finalizers.includes(finalizer)) return;
  await recorder.run('remove-finalizer', target, async () => {
    const removal = await kube.removeVolumeAttachmentFinalizer(name, finalizer, stuck);
    if (removal.outcome === 'gone') return { outcome: 'already-done' };
    if (removal.outcome === 'not-ours') return { outcome: 'refused', detail: removal.reason };
    return removal.remaining.length > 0
      ? { outcome: 'done', detail: `still held by finalizers ${removal.remaining.join(', ')}` }
      : { outcome: 'done', detail: 'no attacher answered: removed its finalizer' };
  });
}
