/**
 * The decisions, as pure functions from what was observed to what to do. Nothing here calls
 * EC2 or Kubernetes, and nothing here knows about dry-run: the executor does.
 */
import type { Skipped } from '../contract/result-events.ts';
import { type InstanceFacts, isOff, type NodeFacts, type Observation } from './facts.ts';
import { type HaltedPlan, haltedPlan } from './gate.ts';
import { isOurOutOfServiceTaint } from './out-of-service-taint.ts';
import { refOf } from './refs.ts';
import { planStages, type RemediationPlan } from './stages/index.ts';
import type { PlanSettings } from './stages/stage.ts';

// The report's types are the public result event contract's.
export type { HaltedPlan, RemediationPlan, Skipped };

/** What to do for one instance: nothing (skipped, refused, waiting, and why), or the stages'. */
export type InstancePlan = HaltedPlan | RemediationPlan;

export type TaintLiftPlan =
  | { readonly outcome: 'skipped'; readonly instanceId: string; readonly reason: string }
  | {
      readonly outcome: 'lift-taint';
      readonly instanceId: string;
      readonly nodeName: string;
      readonly nodeUid?: string;
    };

/** What to do for one instance that an event says is gone or going. */
export function planRemediation(observation: Observation, settings: PlanSettings): InstancePlan {
  const halted = haltedPlan(observation, settings);
  if (halted) return halted;
  const { instance, node } = observation;
  const nodeName = node?.name ?? instance.privateDnsName;
  return {
    outcome: 'remediate',
    instanceId: instance.instanceId,
    state: instance.state,
    ...(nodeName ? { nodeName } : {}),
    ...(node ? { node: refOf(node) } : {}),
    ...(instance.stateReasonCode ? { stateReasonCode: instance.stateReasonCode } : {}),
    forceAllowed: isOff(instance.state),
    ...(instance.describedAt === undefined ? {} : { stateReadAt: instance.describedAt }),
    ...(instance.stateChangeRequestedAt === undefined
      ? {}
      : { stateChangeRequestedAt: instance.stateChangeRequestedAt }),
    ...planStages({ observation, settings }),
  };
}

/** What to do for an instance that runs again: lift the out-of-service taint we added. */
export function planTaintLift(instance: InstanceFacts, node: NodeFacts | undefined): TaintLiftPlan {
  const instanceId = instance.instanceId;
  if (instance.state !== 'running') {
    return {
      outcome: 'skipped',
      instanceId,
      reason: `EC2 reports the instance ${instance.state}, not running: the taint stays`,
    };
  }
  if (!node) return { outcome: 'skipped', instanceId, reason: 'no Node for this instance' };
  const ours = node.taints.some(isOurOutOfServiceTaint);
  if (!ours) {
    return {
      outcome: 'skipped',
      instanceId,
      reason: 'no out-of-service taint of ours on the Node',
    };
  }
  return {
    outcome: 'lift-taint',
    instanceId,
    nodeName: node.name,
    ...(node.uid ? { nodeUid: node.uid } : {}),
  };
}
