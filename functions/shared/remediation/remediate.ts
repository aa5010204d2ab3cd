import type { Config } from '../config.ts';
import type { InstanceReport } from '../contract/result-events.ts';
import { instanceIdFromProviderId } from '../identity/aws-ids.ts';
import { type Awaited, type AwaitOptions, awaitState, type Expectation } from './await-state.ts';
import { applyCircuitBreaker } from './circuit-breaker.ts';
import {
  type ActionRecord,
  createReleaseChecker,
  type ExecutionDeps,
  executePlan,
  executeTaintLift,
} from './execute.ts';
import { type InstanceFacts, instanceAsReported, type NodeFacts } from './facts.ts';
import { nodeOfInstance, taggedForCluster } from './matching.ts';
import { type KubernetesSnapshot, observeInstances } from './observe.ts';
import {
  type HaltedPlan,
  type InstancePlan,
  planRemediation,
  planTaintLift,
  type RemediationPlan,
} from './plan.ts';
import { failedEvent, instanceOffEvent, refusedEvent } from './report-events.ts';

// The report's types are the public result event contract's.
export type { InstanceReport };

/** What happened to one instance: returned, logged, and sent as the result event's detail. */

export type RemediationSettings = Pick<
  Config,
  | 'clusterName'
  | 'onStopped'
  | 'outOfServiceTaint'
  | 'deleteTerminatedNodes'
  | 'detachTimeoutMs'
  | 'forceDetachTimeoutMs'
  | 'attacherGraceMs'
  | 'evictionGraceMs'
  | 'controllerGraceMs'
  | 'maxActionsPerInvocation'
  | 'maxDeadNodePercent'
> &
  Partial<Pick<Config, 'onStoppedHibernationCapable' | 'recoveryWatchMs'>> & {
    readonly dryRun: boolean;
    readonly nodeSelector?: string | undefined;
  };

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
  return plan.outcome === 'remediate'
    ? { ...about, ...(await runStagesOf(plan, deps, settings)) }
    : { ...about, ...(await runHalted(plan, deps, settings)) };
}

type ReportPart = Omit<InstanceReport, 'instanceId' | 'nodeName' | 'state' | 'dryRun'>;

/** A plan that takes no stage: its refusal is written on the Node, an adopted Node's taint lifted. */
async function runHalted(
  plan: HaltedPlan,
  deps: ExecutionDeps,
  settings: RemediationSettings,
): Promise<ReportPart> {
  if (plan.outcome === 'refused' && plan.node) {
    deps.events?.record(refusedEvent(plan.node, plan.refusedBy ?? 'refused', plan.reason));
  }
  // A Node another instance adopted keeps no taint of ours: it is alive.
  const actions = plan.liftTaint
    ? await executeTaintLift(plan, plan.liftTaint, deps, settings)
    : [];
  return {
    outcome: plan.outcome,
    reason: plan.reason,
    ...(plan.refusedBy ? { refusedBy: plan.refusedBy } : {}),
    actions,
    skipped: [],
  };
}

/** The stages of a plan that acts; then, if it acted itself, EC2's evidence on the Node. */
async function runStagesOf(
  plan: RemediationPlan,
  deps: ExecutionDeps,
  settings: RemediationSettings,
): Promise<ReportPart> {
  const planned = Date.now();
  const execution = await executePlan(plan, deps, settings);
  const { records: actions, recoveries } = execution;
  const outcome = outcomeOf(actions, settings.dryRun);
  // The evidence the invocation that did the work acted on, on the Node, dated before its acts:
  // of two deliveries at once, the one that found all done says nothing.
  const offEvent = plan.node && instanceOffEvent(plan.node, plan);
  if (offEvent && execution.actedItself()) deps.events?.record({ ...offEvent, at: planned });
  if (outcome === 'failed' && plan.node) {
    deps.events?.record(failedEvent(plan.node, plan.instanceId, actions));
  }
  const asked = plan.stateChangeRequestedAt;
  return {
    ...(asked === undefined ? {} : { stateChangeRequestedAt: new Date(asked).toISOString() }),
    outcome,
    actions,
    skipped: plan.skipped,
    ...(recoveries.length > 0 ? { recoveries } : {}),
  };
}

/**
 * Observes both systems once and plans each instance, with the circuit breaker applied to all
 * plans together: nothing is done yet.
 */
/** What an event says EC2 will report, and how long EC2 is given to report it. */
export type Awaiting = Expectation & { readonly timeoutMs: number };

/** What a caller knows beyond what is observed. */
export interface PlanningContext {
  /** The cluster's Nodes and VolumeAttachments, listed a moment ago (a sweep's). */
  readonly kubernetesSnapshot?: KubernetesSnapshot;
  /** When an EC2 event said each instance was stopped or terminated (epoch ms). */
  readonly diedAt?: ReadonlyMap<string, number>;
  /** The state the event says EC2 will report: read again until it does (await-state.ts). */
  readonly awaiting?: Awaiting;
}

function awaitOptions(
  awaiting: Awaiting,
  deps: Pick<ExecutionDeps, 'deadline' | 'sleep'>,
): AwaitOptions {
  return {
    timeoutMs: awaiting.timeoutMs,
    ...(deps.deadline === undefined ? {} : { deadline: deps.deadline }),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
  };
}

/** Instances still on their way down when the watch ended: a normal step, not a refusal. */
function stillOnTheirWay(awaited: Awaited, awaiting: Awaiting): InstancePlan[] {
  const watched = Math.round(awaiting.timeoutMs / 1000);
  return awaited.behind.map((instanceId) => {
    const { state } = instanceAsReported(awaited.instances, instanceId);
    return {
      outcome: 'waiting',
      instanceId,
      state,
      reason:
        `EC2 reports the instance ${state}, on its way to ${awaiting.state} (watched ${watched} s): ` +
        'the event that says it got there remediates it',
    };
  });
}

export async function planInstances(
  instanceIds: readonly string[],
  deps: Pick<ExecutionDeps, 'ec2' | 'kube' | 'deadline' | 'sleep'>,
  settings: RemediationSettings,
  { kubernetesSnapshot, diedAt, awaiting }: PlanningContext = {},
): Promise<InstancePlan[]> {
  // A sweep's instances come from the cluster's own Nodes; an event's may be anybody's.
  const screened = kubernetesSnapshot
    ? undefined
    : await screenInstances(instanceIds, deps, settings.clusterName);
  // Only the cluster's own are awaited: every state change in the account reaches node-loss.
  const awaited =
    screened && awaiting && screened.relevant.length > 0
      ? await awaitState(
          screened.relevant,
          awaiting,
          deps.ec2,
          awaitOptions(awaiting, deps),
          screened.instances,
        )
      : undefined;
  const behind = new Set(awaited?.behind);
  const waiting = awaited && awaiting ? stillOnTheirWay(awaited, awaiting) : [];
  const strangers = screened?.strangers ?? [];
  const relevant = (screened?.relevant ?? instanceIds).filter((id) => !behind.has(id));
  if (relevant.length === 0) return [...strangers, ...waiting];
  // An instance watched until it ended died at the latest when EC2 was seen to say so.
  const deaths = new Map([...(awaited?.reachedAt ?? []), ...(diedAt ?? [])]);
  const { observations, nodes } = await observeInstances(
    relevant,
    deps.ec2,
    deps.kube,
    kubernetesSnapshot,
    awaited?.instances ?? screened?.instances,
    deaths,
  );
  const plans = applyCircuitBreaker(
    observations.map((observation) => planRemediation(observation, settings)),
    {
      maxActions: settings.maxActionsPerInvocation,
      maxDeadNodePercent: settings.maxDeadNodePercent,
    },
    nodes,
  );
  return [...plans, ...strangers, ...waiting];
}

/**
 * Sorts out, before any cluster-wide list, the instances that are plainly not the cluster's:
 * every EC2 state change in the account reaches node-loss, and most are other instances'. An
 * instance is kept when EC2 no longer knows it (its Node may still exist), when it carries a
 * tag of the cluster, or when a Node by its private DNS name names it in its providerID: one
 * DescribeInstances and at most one Node read per instance.
 */
async function screenInstances(
  instanceIds: readonly string[],
  deps: Pick<ExecutionDeps, 'ec2' | 'kube'>,
  clusterName: string,
): Promise<{
  relevant: string[];
  strangers: InstancePlan[];
  instances: ReadonlyMap<string, InstanceFacts>;
}> {
  const instances = await deps.ec2.describeInstances(instanceIds);
  const verdicts = await Promise.all(
    instanceIds.map(async (instanceId) => {
      const instance = instanceAsReported(instances, instanceId);
      if (instance.state === 'gone' || taggedForCluster(instance.tags, clusterName)) return true;
      if (!instance.privateDnsName) return false;
      const node = await deps.kube.readNode(instance.privateDnsName);
      return instanceIdFromProviderId(node?.providerId) === instanceId;
    }),
  );
  const relevant = instanceIds.filter((_, i) => verdicts[i]);
  const strangers = instanceIds
    .filter((_, i) => !verdicts[i])
    .map((instanceId): InstancePlan => {
      const instance = instanceAsReported(instances, instanceId);
      return {
        outcome: 'skipped',
        instanceId,
        state: instance.state,
        reason: `not an instance of cluster ${clusterName}: none of its tags, and no Node of the cluster names it`,
      };
    });
  return { relevant, strangers, instances };
}

/**
 * Remediates instances that an event or an operator says are gone: plans them all (circuit
 * breaker included) before the first action, then executes.
 */
export async function remediateInstances(
  instanceIds: readonly string[],
  deps: ExecutionDeps,
  settings: RemediationSettings,
  context: PlanningContext = {},
): Promise<InstanceReport[]> {
  const plans = await planInstances(instanceIds, deps, settings, context);
  // One release checker for all: the instances' checks share their DescribeVolumes calls.
  const together = { ...deps, isReleased: deps.isReleased ?? createReleaseChecker(deps.ec2) };
  return Promise.all(plans.map((plan) => runPlan(plan, together, settings)));
}

/**
 * Lifts the out-of-service taint we added, from the Nodes of instances EC2 reports running.
 * Every instance start in the account comes here: a Node is read by the instance's private DNS
 * name, and all Nodes are listed only for an instance tagged for the cluster whose Node has
 * another name.
 */
export async function liftOutOfServiceTaints(
  instanceIds: readonly string[],
  deps: ExecutionDeps,
  settings: Pick<RemediationSettings, 'dryRun' | 'clusterName'>,
  awaiting?: Awaiting,
): Promise<InstanceReport[]> {
  const { instances } = awaiting
    ? await awaitState(instanceIds, awaiting, deps.ec2, awaitOptions(awaiting, deps))
    : { instances: await deps.ec2.describeInstances(instanceIds) };
  let allNodes: Promise<NodeFacts[]> | undefined;
  const nodeOf = async (instance: InstanceFacts) => {
    const byName = instance.privateDnsName
      ? await deps.kube.readNode(instance.privateDnsName)
      : undefined;
    if (instanceIdFromProviderId(byName?.providerId) === instance.instanceId) return byName;
    if (!taggedForCluster(instance.tags, settings.clusterName)) return undefined;
    allNodes ??= deps.kube.listNodes();
    return nodeOfInstance(await allNodes, instance.instanceId);
  };
  return Promise.all(
    instanceIds.map(async (instanceId): Promise<InstanceReport> => {
      const instance = instanceAsReported(instances, instanceId);
      const node = instance.state === 'running' ? await nodeOf(instance) : undefined;
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
      const actions = await executeTaintLift(
        instance,
        { name: plan.nodeName, ...(plan.nodeUid ? { uid: plan.nodeUid } : {}) },
        deps,
        settings,
      );
      return { ...about, outcome: outcomeOf(actions, settings.dryRun), actions };
    }),
  );
}
