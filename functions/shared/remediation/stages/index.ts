/**
 * The stages of a remediation, in the order they are planned and run: each is one module of one
 * shape (stage.ts). A new stage is its file, its place in this list and its step in the plan's
 * type below, and a row in the action catalogue for each action it takes.
 */
import type { ActionKind } from '../../contract/actions.ts';
import { awaitControllers, type ControllersStep } from './await-controllers.ts';
import { type DeleteNodeStep, deleteNode } from './delete-node.ts';
import { type EvictStep, evictPods } from './evict-pods.ts';
import { type FenceStep, fenceNode } from './fence-node.ts';
import { type FreeStep, freeVolumes } from './free-volumes.ts';
import type { PlanBasics, StagePlanning, StageRun } from './stage.ts';
import { type RecoveryStep, watchRecovery } from './watch-recovery.ts';

export const stages = [
  fenceNode,
  evictPods,
  awaitControllers,
  freeVolumes,
  deleteNode,
  watchRecovery,
] as const;

/** What the stages plan together. */
export type RemediationSteps = FenceStep &
  EvictStep &
  ControllersStep &
  FreeStep &
  DeleteNodeStep &
  RecoveryStep;

/** The plan of an instance the remediator acts on: what every plan carries, and each stage's part. */
export type RemediationPlan = PlanBasics & RemediationSteps;

/** Each stage's part of the plan, in order, each seeing what those before it planned. */
export function planStages(planning: Omit<StagePlanning, 'before'>): RemediationSteps {
  let before: Partial<RemediationSteps> = {};
  for (const stage of stages) before = { ...before, ...stage.plan({ ...planning, before }) };
  return before as RemediationSteps;
}

/** Every action the plan would take, one entry each. */
export function plannedActions(plan: RemediationPlan): ActionKind[] {
  return stages.flatMap((stage) => stage.plannedActions(plan));
}

/** Runs the stages in order until one stops. */
export async function runStages(plan: RemediationPlan, run: StageRun): Promise<void> {
  for (const stage of stages) {
    if ((await stage.run(plan, run)) === 'stop') return;
  }
}
