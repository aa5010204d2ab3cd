/**
 * Delete the Node (DELETE_TERMINATED_NODES): the Node of a terminated or gone instance, once
 * nothing of it is left to anyone. Without a cloud node lifecycle a Node outlives its instance,
 * and a new instance that gets the private IP, and so the name, would adopt it.
 */

import type { NodeRef } from '../refs.ts';
import { nodeObject, refOf } from '../refs.ts';
import type { Stage } from './stage.ts';

export interface DeleteNodeStep {
  /** The Node of a terminated or gone instance, to delete last. */
  readonly deleteNode?: NodeRef;
}

export const deleteNode: Stage<DeleteNodeStep> = {
  name: 'delete the Node',

  plan({ observation: { instance, node }, settings }) {
    const ended = instance.state === 'terminated' || instance.state === 'gone';
    return settings.deleteTerminatedNodes && node && ended ? { deleteNode: refOf(node) } : {};
  },

  plannedActions: (plan) => (plan.deleteNode ? ['delete-node'] : []),

  async run(plan, { deps, options, recorder }) {
    const node = plan.deleteNode;
    // Only a Node whose pods and volumes are all free: nothing of it is left to anyone.
    if (!node || recorder.anyFailed()) return 'next';
    await recorder.run(
      'delete-node',
      { node: node.name, regarding: nodeObject(node) },
      async () => {
        if (options.dryRun) return { outcome: 'planned' };
        const answer = await deps.kube.deleteNode(node.name, node.uid);
        return { outcome: answer === 'deleted' ? 'done' : 'already-done' };
      },
    );
    return 'next';
  },
};
