/**
 * Let Kubernetes' controllers detach: on a fenced Node whose pods are gone, the attach/detach
 * controller detaches at once and the external-attacher frees the volume in EC2 and removes the
 * VolumeAttachment. The remediator waits up to the controller grace for them, and frees itself
 * only what they left (free-volumes.ts).
 */
import { pollUntil } from '../polling.ts';
import { attachmentObject, type VolumeTask } from '../refs.ts';
import { type FenceStep, fencingTaint } from './fence-node.ts';
import type { PlanBasics, Stage, StageRun } from './stage.ts';

export interface ControllersStep {
  /**
   * Whether the Node still exists and carries (or gets) the out-of-service taint: the
   * attach/detach controller then detaches at once, and the remediator lets it.
   */
  readonly controllersDetach: boolean;
}

/** What waiting reads: the taint planned before it, and the volumes to free. */
type ControllersReads = FenceStep & { readonly volumes: readonly VolumeTask[] };

export const awaitControllers: Stage<ControllersStep, ControllersReads> = {
  name: 'let the controllers detach',

  plan: (planning) => ({ controllersDetach: fencingTaint(planning) !== undefined }),

  // What the controllers do is not the remediator's: a dry-run waits for nothing.
  plannedActions: () => [],

  async run(plan, run) {
    if (plan.controllersDetach && !run.options.dryRun) await awaitFreed(plan, run);
    return 'next';
  },
};

/**
 * Waits, up to the controller grace, for the attach/detach controller and the attacher to free
 * the fenced Node's volumes (they detach at once once its pods are gone), recording each volume
 * they freed: the volumes left are the remediator's to free.
 */
async function awaitFreed(plan: PlanBasics & ControllersReads, run: StageRun): Promise<void> {
  const { deps, options, recorder, isReleased } = run;
  // Freed: EC2 no longer holds the volume on the instance, and each VolumeAttachment observed
  // is gone (one created again under its name is another object).
  const freed = async (task: VolumeTask) => {
    const [released, ...now] = await Promise.all([
      isReleased(task.volumeId),
      ...task.attachments.map((ref) => deps.kube.readVolumeAttachment(ref.name)),
    ]);
    return (
      released &&
      task.attachments.every((ref, i) => (ref.uid ? now[i]?.uid !== ref.uid : now[i] === undefined))
    );
  };
  let left = [...plan.volumes];
  await pollUntil(
    async () => {
      const done = await Promise.all(left.map(freed));
      for (const [i, task] of left.entries()) {
        if (!done[i]) continue;
        const [attachment] = task.attachments;
        const target = {
          volumeId: task.volumeId,
          ...(attachment ? { regarding: attachmentObject(attachment) } : {}),
        };
        await recorder.run('controllers-detached', target, async () => ({
          outcome: 'done',
          detail: `${task.volumeId} no longer attached to the instance, its VolumeAttachment gone`,
        }));
      }
      left = left.filter((_, i) => !done[i]);
      return left.length === 0;
    },
    options.controllerGraceMs,
    deps,
  );
}
