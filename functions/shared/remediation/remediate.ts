import type { Config } from '../config.ts';
import {
  type ActionRecord,
  type ExecutionDeps,
  executeRemediation,
  executeTaintLift,
} from './execute.ts';
import { type InstanceState, instanceAsReported } from './facts.ts';
import { type KubernetesSnapshot, observeInstances } from './observe.ts';
import {
  applyCircuitBreaker,
  type InstancePlan,
  nodeOfInstance,
  planRemediation,
  planTaintLift,
  type Skipped,
} from './plan.ts';

/** What happened to one instance: returned, logged, and sent as the result event's detail. */
export interface InstanceReport {
  readonly instanceId: string;
  readonly nodeName?: string;
  readonly state: InstanceState;
  /**
   * remediated: something was done; nothing-to-do: all was already done (a replayed event);
   * dry-run: the actions are what would be done; refused: a safety rule stopped it;
   * skipped: not this remediator's business; failed: at least one action failed.
   */
  readonly outcome: 'remediated' | 'nothing-to-do' | 'dry-run' | 'refused' | 'skipped' | 'failed';
  readonly reason?: string;
  readonly dryRun: boolean;
  readonly actions: readonly ActionRecord[];
  readonly skipped: readonly Skipped[];
}

export type RemediationSettings = Pick<
  Config,
  | 'clusterName'
  | 'onStopped'
  | 'outOfServiceTaint'
  | 'detachTimeoutMs'
  | 'forceDetachTimeoutMs'
  | 'attacherGraceMs'
  | 'maxActionsPerInvocation'
  | 'maxDeadNodePercent'
> & { readonly dryRun: boolean; readonly nodeSelector?: string | undefined };

function outcomeOf(actions: readonly ActionRecord[], dryRun: boolean): InstanceReport['outcome'] {
  if (actions.some((a) => a.outcome === 'failed')) return 'failed';
  if (actions.some((a) => a.outcome === 'done')) return 'remediated';
  if (dryRun && actions.some((a) => a.outcome === 'planned')) return 'dry-run';
  if (actions.some((a) => a.outcome === 'refused')) return 'refused';
  return 'nothing-to-do';
}

async function runPlan(
  plan: InstancePlan,
  deps: ExecutionDeps,
  settings: RemediationSettings,
): Promise<InstanceReport> {
  const about = {
    instanceId: plan.instanceId,
    ...(plan.nodeName ? { nodeName: plan.nodeName } : {}),
    state: plan.state,
    dryRun: settings.dryRun,
  };
  if (plan.outcome !== 'remediate') {
    return { ...about, outcome: plan.outcome, reason: plan.reason, actions: [], skipped: [] };
  }
  const actions = await executeRemediation(plan, deps, settings);
  return { ...about, outcome: outcomeOf(actions, settings.dryRun), actions, skipped: plan.skipped };
}

/**
 * Observes both systems once and plans each instance, with the circuit breaker applied to all
 * plans together: nothing is done yet.
 */
export async function planInstances(
  instanceIds: readonly string[],
  deps: Pick<ExecutionDeps, 'ec2' | 'kube'>,
  settings: RemediationSettings,
  kubernetesSnapshot?: KubernetesSnapshot,
): Promise<InstancePlan[]> {
  const { observations, nodes } = await observeInstances(
    instanceIds,
    deps.ec2,
    deps.kube,
    kubernetesSnapshot,
  );
  return applyCircuitBreaker(
    observations.map((observation) => planRemediation(observation, settings)),
    {
      maxActions: settings.maxActionsPerInvocation,
      maxDeadNodePercent: settings.maxDeadNodePercent,
    },
    nodes,
  );
}

/**
 * Remediates instances that an event or an operator says are gone: plans them all (circuit
 * breaker included) before the first action, then executes.
 */
export async function remediateInstances(
  instanceIds: readonly string[],
  deps: ExecutionDeps,
  settings: RemediationSettings,
  kubernetesSnapshot?: KubernetesSnapshot,
): Promise<InstanceReport[]> {
  const plans = await planInstances(instanceIds, deps, settings, kubernetesSnapshot);
  return Promise.all(plans.map((plan) => runPlan(plan, deps, settings)));
}

/** Lifts the out-of-service taint we added, from the Nodes of instances EC2 reports running. */
export async function liftOutOfServiceTaints(
  instanceIds: readonly string[],
  deps: ExecutionDeps,
  settings: Pick<RemediationSettings, 'dryRun'>,
): Promise<InstanceReport[]> {
  const [instances, nodes] = await Promise.all([
    deps.ec2.describeInstances(instanceIds),
    deps.kube.listNodes(),
  ]);
  return Promise.all(
    instanceIds.map(async (instanceId): Promise<InstanceReport> => {
      const instance = instanceAsReported(instances, instanceId);
      const node = nodeOfInstance(nodes, instanceId);
      const plan = planTaintLift(instance, node);
      const about = {
        instanceId,
        ...(node ? { nodeName: node.name } : {}),
        state: instance.state,
        dryRun: settings.dryRun,
        skipped: [],
      };
      if (plan.outcome === 'skipped') {
        return { ...about, outcome: 'skipped', reason: plan.reason, actions: [] };
      }
      const actions = await executeTaintLift(instanceId, plan.nodeName, deps, settings);
      return { ...about, outcome: outcomeOf(actions, settings.dryRun), actions };
    }),
  );
}
