/**
 * The rules an instance passes before any stage plans: is it the cluster's, is it really off,
 * and does nothing of its Node show life. The first rule that holds decides: skip (not this
 * remediator's business), refuse (a safety rule, for an operator to look at) or wait (on its way
 * down). Pure.
 */
import type { RefusalRule } from '../contract/result-events.ts';
import type { InstanceState, NodeFacts, Observation } from './facts.ts';
import { signOfLife, stillReporting } from './liveness.ts';
import { taggedForCluster, zoneInRegion, zoneOfProviderId } from './matching.ts';
import { isOurOutOfServiceTaint } from './out-of-service-taint.ts';
import { type NodeRef, refOf } from './refs.ts';
import type { PlanSettings } from './stages/stage.ts';

/** A plan that takes no stage: skipped, refused or waiting, with the reason. */
export interface HaltedPlan {
  readonly outcome: 'skipped' | 'refused' | 'waiting';
  readonly instanceId: string;
  readonly state: InstanceState;
  readonly nodeName?: string;
  /** The Node observed, when there is one: a refusal's Event is written on it. */
  readonly node?: NodeRef;
  readonly reason: string;
  /** With outcome refused: the rule that refused it. */
  readonly refusedBy?: RefusalRule;
  /**
   * Our out-of-service taint, on a Node that another instance's kubelet adopted: lifted, since
   * that Node is alive.
   */
  readonly liftTaint?: NodeRef;
}

type Verdict = Omit<HaltedPlan, 'instanceId' | 'state' | 'nodeName' | 'node'>;
type Rule = (observation: Observation, settings: PlanSettings) => Verdict | undefined;

const notInCluster: Rule = ({ instance, node, attachments }, { clusterName }) =>
  taggedForCluster(instance.tags, clusterName) || node !== undefined || attachments.length > 0
    ? undefined
    : {
        outcome: 'skipped',
        reason: `not an instance of cluster ${clusterName}: no cluster tag, no Node, no VolumeAttachment`,
      };

const otherRegion: Rule = ({ node, region }) => {
  const zone = zoneOfProviderId(node?.providerId);
  if (!region || !zone || zoneInRegion(zone, region)) return undefined;
  return {
    outcome: 'refused',
    refusedBy: 'other-region',
    reason:
      `the Node's zone ${zone} is not in this function's Region ${region}: ` +
      'what EC2 says here proves nothing about it (deploy the remediator in each Region of the cluster)',
  };
};

/** A live instance named as dead: refused, for an operator to look at. */
const untouchable: ReadonlyMap<InstanceState, string> = new Map([
  [
    'pending',
    'EC2 reports the instance pending: it is starting, and a live instance is never touched',
  ],
  ['running', 'EC2 reports the instance running: a live instance is never touched'],
]);

const liveInstance: Rule = ({ instance }) => {
  const reason = untouchable.get(instance.state);
  return reason ? { outcome: 'refused', refusedBy: 'live-instance', reason } : undefined;
};

/** An instance on its way down: a normal step, waited for, not a refusal. */
const onItsWay: ReadonlyMap<InstanceState, string> = new Map([
  ['stopping', 'EC2 reports the instance stopping: its volumes are freed once it has stopped'],
  [
    'shutting-down',
    'EC2 reports the instance shutting down: its guest OS still runs and holds its filesystems; ' +
      'the remediator acts once EC2 reports it terminated',
  ],
]);

const goingDown: Rule = ({ instance }) => {
  const reason = onItsWay.get(instance.state);
  return reason ? { outcome: 'waiting', reason } : undefined;
};

const stoppedIgnored: Rule = ({ instance }, { onStopped }) =>
  instance.state === 'stopped' && onStopped === 'ignore'
    ? { outcome: 'skipped', reason: 'instance stopped, and ON_STOPPED is ignore' }
    : undefined;

/** EC2's state reason for a stop that hibernated the instance. */
const hibernatedReason = 'Client.UserInitiatedHibernate';

const hibernated: Rule = ({ instance }, settings) => {
  if (instance.state !== 'stopped') return undefined;
  if (instance.stateReasonCode === hibernatedReason) {
    return {
      outcome: 'skipped',
      reason: `instance hibernated (${hibernatedReason}): it resumes with its memory and mounts, so its volumes stay`,
    };
  }
  // Spot hibernation and a user's gives no reliable reason code: configured is enough.
  if (!instance.hibernationConfigured || settings.onStoppedHibernationCapable === 'remediate') {
    return undefined;
  }
  return {
    outcome: 'skipped',
    reason:
      'instance configured for hibernation: a stop may have hibernated it, and it would resume ' +
      'with its memory and mounts, so its volumes stay (ON_STOPPED_HIBERNATION_CAPABLE=remediate ' +
      'frees them)',
  };
};

/** Our taint on a Node that turned out alive: lifted, from the Node observed. */
function liftOurTaint(node: NodeFacts): { liftTaint?: NodeRef } {
  return node.taints.some(isOurOutOfServiceTaint) ? { liftTaint: refOf(node) } : {};
}

const nodeStillReporting: Rule = ({ instance, node, observedAt }) => {
  const reporting =
    node && instance.state === 'gone' ? stillReporting(node, observedAt) : undefined;
  if (!node || !reporting) return undefined;
  return {
    outcome: 'refused',
    refusedBy: 'still-reporting',
    reason:
      `EC2 does not know the instance, which proves only that this account and Region do not see it, ` +
      `and its Node ${node.name} still reports: ${reporting}. Nothing is done until the Node stops ` +
      'reporting (NotReady, or its Lease not renewed for 50 s)',
    ...liftOurTaint(node),
  };
};

const nameTakenOver: Rule = (observation) => {
  const { node } = observation;
  const life = node ? signOfLife(node, observation) : undefined;
  if (!node || !life) return undefined;
  return {
    outcome: 'refused',
    refusedBy: 'name-taken-over',
    reason:
      `Node ${node.name} names the instance in its providerID but shows life after the instance died: ${life}. ` +
      'Another instance has its name (EC2 reuses private IPs and so DNS names) and its kubelet adopted the ' +
      'Node: it is never tainted and none of its pods are deleted (DELETE_TERMINATED_NODES removes such Nodes ' +
      'before a new kubelet can adopt them)',
    ...liftOurTaint(node),
  };
};

/** The rules, in the order they are asked. */
const rules: readonly Rule[] = [
  notInCluster,
  otherRegion,
  liveInstance,
  goingDown,
  stoppedIgnored,
  hibernated,
  nodeStillReporting,
  nameTakenOver,
];

/** The plan of an instance no stage may act on, or undefined when the stages may. */
export function haltedPlan(
  observation: Observation,
  settings: PlanSettings,
): HaltedPlan | undefined {
  const { instance, node } = observation;
  // For the report: the Node's name, or the name the instance's Node had.
  const nodeName = node?.name ?? instance.privateDnsName;
  for (const rule of rules) {
    const verdict = rule(observation, settings);
    if (verdict) {
      return {
        instanceId: instance.instanceId,
        state: instance.state,
        ...(nodeName ? { nodeName } : {}),
        ...(node ? { node: refOf(node) } : {}),
        ...verdict,
      };
    }
  }
  return undefined;
}
