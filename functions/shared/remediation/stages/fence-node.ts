/**
 * Fence the Node: the out-of-service taint (KEP-2268). A Node known to be shut down gets it, and
 * EC2's word that the instance is stopped, terminated or gone is that knowledge, earlier than
 * any Node condition. Kubernetes then stops waiting: the taint-eviction controller evicts the
 * pods, and the attach/detach controller detaches at once.
 */
import type { ActionRecord } from '../../contract/result-events.ts';
import { RemediationError } from '../../util/errors.ts';
import { isOff, type Taint } from '../facts.ts';
import { outOfServiceTaint, outOfServiceTaintOn } from '../out-of-service-taint.ts';
import { nodeObject } from '../refs.ts';
import type { PlanBasics, Stage, StagePlanning, StageRun } from './stage.ts';

export interface FenceStep {
  /** The Node to taint, when it lacks the taint and tainting is on. */
  readonly taintNode?: string;
  /** The uid of the Node observed: the taint goes only on that object. */
  readonly nodeUid?: string;
}

/**
 * How old an EC2 reading the taint may act on without asking EC2 again. The planner's reading is
 * taken alongside the last Kubernetes reads before the plan (observe.ts), so it is usually tens of
 * milliseconds old when the taint goes out: as current as a read made right before, without a
 * round trip of its own. A slower plan (a slow apiserver, a sweep's batch) is re-checked.
 */
export const stateFreshForMs = 1000;

/** How a taint lets the next stage go on: the Node carries the taint (or would, in dry-run). */
const fenced = new Set<ActionRecord['outcome']>(['done', 'already-done', 'planned']);

export const fenceNode: Stage<FenceStep> = {
  name: 'fence the Node',

  plan({ observation: { node }, settings }) {
    if (!settings.outOfServiceTaint || !node || outOfServiceTaintOn(node)) return {};
    return { taintNode: node.name, ...(node.uid ? { nodeUid: node.uid } : {}) };
  },

  plannedActions: (plan) => (plan.taintNode ? ['taint-node'] : []),

  async run(plan, run) {
    if (!plan.taintNode) return 'next';
    const fence = await taintNode(plan, plan.taintNode, run);
    // No taint, no eviction: an instance that came back keeps its Node, its pods and its
    // volumes, and a taint that failed leaves the whole instance to the retry.
    return fenced.has(fence.outcome) ? 'next' : 'stop';
  },
};

function taintNode(plan: PlanBasics & FenceStep, nodeName: string, run: StageRun) {
  const { deps, options, recorder } = run;
  const regarding = nodeObject({ name: nodeName, ...(plan.nodeUid ? { uid: plan.nodeUid } : {}) });
  return recorder.run('taint-node', { node: nodeName, regarding }, async () => {
    if (options.dryRun) return { outcome: 'planned' };
    // The state must be current: the taint makes Kubernetes evict the Node's pods.
    const fresh =
      plan.stateReadAt !== undefined && Date.now() - plan.stateReadAt <= stateFreshForMs;
    const current = fresh
      ? { state: plan.state }
      : (await deps.ec2.describeInstances([plan.instanceId])).get(plan.instanceId);
    if (!isOff(current?.state)) {
      return {
        outcome: 'refused',
        detail: `EC2 now reports the instance ${current?.state ?? 'unknown'}: not tainted`,
      };
    }
    const change = await deps.kube.addNodeTaint(nodeName, outOfServiceTaint, plan.nodeUid);
    const taint = `${outOfServiceTaint.key}=${outOfServiceTaint.value}:NoExecute`;
    switch (change) {
      case 'done':
        return { outcome: 'done', detail: taint };
      case 'already-done':
        return { outcome: 'already-done', detail: `${taint} was there already` };
      case 'not-ours':
        return {
          outcome: 'refused',
          detail: `another Node took the name ${nodeName} since it was observed: not tainted`,
        };
      case 'gone':
        throw new RemediationError(
          `tainting node ${nodeName}: it was deleted since it was listed; the retry plans its pods as a gone Node's`,
        );
    }
  });
}

/**
 * The out-of-service taint the Node carries or gets by this plan: the taint its pods are
 * evicted by. None for a Node that is gone, or one left untainted (OUT_OF_SERVICE_TAINT=false).
 */
export function fencingTaint({
  observation: { node },
  before,
}: StagePlanning<FenceStep>): Taint | undefined {
  if (!node) return undefined;
  return outOfServiceTaintOn(node) ?? (before.taintNode ? outOfServiceTaint : undefined);
}
