/**
 * The one executor: runs a plan's stages in their order (stages/index.ts). Dry-run is known only
 * here and in the stages, checked right at each side effect.
 */
import { type ActionTally, actionRow } from '../contract/actions.ts';
import type { ActionKind, ActionRecord } from '../contract/result-events.ts';
import type { InstanceState } from './facts.ts';
import { outOfServiceTaint } from './out-of-service-taint.ts';
import { Recorder } from './recorder.ts';
import { type NodeRef, nodeObject } from './refs.ts';
import { createReleaseChecker } from './release-checker.ts';
import { type RemediationPlan, runStages } from './stages/index.ts';
import type { ExecutionDeps, ExecutionOptions } from './stages/stage.ts';

export { notStarted } from './recorder.ts';
export { createReleaseChecker } from './release-checker.ts';
export { stateFreshForMs } from './stages/fence-node.ts';
// The report's types are the public result event contract's.
export type { ActionKind, ActionRecord, ExecutionDeps, ExecutionOptions };

type Outcome = ActionRecord['outcome'];

function tally(count: ActionTally) {
  return (actions: readonly ActionRecord[], outcomes: readonly Outcome[] = ['done']) =>
    actions.filter((a) => actionRow(a.action).tally === count && outcomes.includes(a.outcome))
      .length;
}

/** How many volumes these actions detached (or, with `planned`, would detach). */
export const volumesDetached = tally('volumesDetached');

/** How many VolumeAttachments these actions deleted (or, with `planned`, would delete). */
export const attachmentsDeleted = tally('attachmentsDeleted');

/** How many pods these actions force-deleted (or, with `planned`, would). */
export const podsDeleted = tally('podsDeleted');

/**
 * Executes a remediation plan in stages, each waiting on Kubernetes' own controllers before the
 * next: fence the Node (the out-of-service taint), evict its pods (force-delete them once the
 * taint-eviction controller's own delete has landed), let the attach/detach controller and the
 * attacher free the volumes, and only then free in EC2 and Kubernetes what they did not.
 * Returns every action's record; never throws for one action.
 */
export async function executeRemediation(
  plan: RemediationPlan,
  deps: ExecutionDeps,
  options: ExecutionOptions,
): Promise<ActionRecord[]> {
  return (await executePlan(plan, deps, options)).records;
}

/** executeRemediation, with the replacements of the evicted pods as the last stage saw them. */
export async function executePlan(
  plan: RemediationPlan,
  deps: ExecutionDeps,
  options: ExecutionOptions,
): Promise<Pick<Recorder, 'records' | 'recoveries' | 'actedItself'>> {
  const recorder = new Recorder(plan.instanceId, deps, plan.state);
  const releaseChecker = deps.isReleased ?? createReleaseChecker(deps.ec2);
  const isReleased = (volumeId: string) => releaseChecker(volumeId, plan.instanceId);
  await runStages(plan, { deps, options, recorder, isReleased });
  return recorder;
}

/** Lifts the out-of-service taint this project added, from the Node observed. */
export async function executeTaintLift(
  instance: { readonly instanceId: string; readonly state: InstanceState },
  node: NodeRef,
  deps: ExecutionDeps,
  options: Pick<ExecutionOptions, 'dryRun'>,
): Promise<ActionRecord[]> {
  const recorder = new Recorder(instance.instanceId, deps, instance.state);
  await recorder.run('lift-taint', { node: node.name, regarding: nodeObject(node) }, async () => {
    if (options.dryRun) return { outcome: 'planned' };
    const change = await deps.kube.removeNodeTaint(node.name, outOfServiceTaint, node.uid);
    if (change === 'not-ours') {
      return {
        outcome: 'refused',
        detail: `another Node took the name ${node.name} since it was observed: its taints are its own`,
      };
    }
    return { outcome: change === 'done' ? 'done' : 'already-done' };
  });
  return recorder.records;
}
