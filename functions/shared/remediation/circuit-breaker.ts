/**
 * The circuit breaker, decided before the first action over all the plans of an invocation
 * (or a sweep's batch): too much death at once more likely means a wrong event, a wrong state
 * or a partition than a real mass failure. Which actions it counts, the action catalogue says.
 */
import { actionRow } from '../contract/actions.ts';
import type { ActionRecord } from '../contract/result-events.ts';
import type { NodeFacts } from './facts.ts';
import { isOurOutOfServiceTaint } from './out-of-service-taint.ts';
import type { InstancePlan } from './plan.ts';
import { plannedActions } from './stages/index.ts';

export interface CircuitBreakerLimits {
  /** MAX_ACTIONS_PER_INVOCATION: destructive actions one invocation or sweep may take. */
  readonly maxActions: number;
  /** MAX_DEAD_NODE_PERCENT: the share of the cluster's Nodes that may look dead at once. */
  readonly maxDeadNodePercent: number;
}

/** How many destructive actions (the catalogue's) a set of plans would take. */
export function destructiveActions(plans: readonly InstancePlan[]): number {
  return plans
    .flatMap((plan) => (plan.outcome === 'remediate' ? plannedActions(plan) : []))
    .filter((action) => actionRow(action).destructive).length;
}

/** Destructive actions taken or, in dry-run, planned: what the breaker counts after the fact. */
export function destructiveActionsTaken(actions: readonly ActionRecord[]): number {
  return actions.filter(
    (a) => actionRow(a.action).destructive && (a.outcome === 'done' || a.outcome === 'planned'),
  ).length;
}

/**
 * The share of Nodes that look dead: those whose Ready condition is reported and not True,
 * those carrying our out-of-service taint (so that invocations running at once in a mass stop
 * see each other's dead before Kubernetes marks them NotReady), and those of instances the plans
 * would remediate. A Node that reports no condition yet (a kubelet registering) does not count
 * as dead.
 */
export function deadNodePercent(nodes: readonly NodeFacts[], plans: readonly InstancePlan[]) {
  if (nodes.length === 0) return 0;
  const remediated = new Set(
    plans.flatMap((p) => (p.outcome === 'remediate' && p.nodeName ? [p.nodeName] : [])),
  );
  const dead = nodes.filter(
    (n) => n.ready === false || n.taints.some(isOurOutOfServiceTaint) || remediated.has(n.name),
  ).length;
  return (100 * dead) / nodes.length;
}

/**
 * When the plans together would take more destructive actions than allowed, or more of the
 * cluster's Nodes than allowed look dead at once, every plan that would act is refused instead
 * (as Medik8s refuses below minHealthy). A dry-run comes to the same refusal.
 */
export function applyCircuitBreaker(
  plans: readonly InstancePlan[],
  limits: CircuitBreakerLimits,
  nodes: readonly NodeFacts[],
): InstancePlan[] {
  const actions = destructiveActions(plans);
  const deadPercent = deadNodePercent(nodes, plans);
  let reason: string | undefined;
  if (actions > limits.maxActions) {
    reason = `circuit breaker: ${actions} destructive actions in one invocation, more than MAX_ACTIONS_PER_INVOCATION=${limits.maxActions}`;
  } else if (deadPercent > limits.maxDeadNodePercent) {
    reason = `circuit breaker: ${Math.round(deadPercent)}% of the cluster's ${nodes.length} Nodes look dead at once, more than MAX_DEAD_NODE_PERCENT=${limits.maxDeadNodePercent}`;
  }
  if (!reason) return [...plans];
  const refusal = reason;
  return plans.map((plan) =>
    plan.outcome !== 'remediate'
      ? plan
      : {
          outcome: 'refused',
          refusedBy: 'circuit-breaker',
          instanceId: plan.instanceId,
          state: plan.state,
          ...(plan.nodeName ? { nodeName: plan.nodeName } : {}),
          ...(plan.node ? { node: plan.node } : {}),
          reason: refusal,
        },
  );
}
