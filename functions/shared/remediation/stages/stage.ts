/**
 * The shape every stage of a remediation has. A stage plans its part from what was observed
 * (pure, and what the stages before it planned), says which actions that part would take, and
 * carries it out; the executor runs the stages in their declared order (index.ts), and a stage
 * that ends with `stop` leaves the rest to the retry of the event.
 */

import type { Config } from '../../config.ts';
import type { ActionKind } from '../../contract/actions.ts';
import type { ActionRecord } from '../../contract/result-events.ts';
import type { InstanceState, Observation } from '../facts.ts';
import type { PollDeps } from '../polling.ts';
import type { Ec2Port, EventSink, KubernetesPort } from '../ports.ts';
import type { Recorder } from '../recorder.ts';
import type { NodeRef } from '../refs.ts';
import type { ReleaseChecker } from '../release-checker.ts';

/** The settings the planner reads. */
export type PlanSettings = Pick<Config, 'clusterName' | 'onStopped' | 'outOfServiceTaint'> &
  Partial<Pick<Config, 'deleteTerminatedNodes' | 'onStoppedHibernationCapable'>>;

/** What every plan that acts carries, whatever its stages. */
export interface PlanBasics {
  readonly outcome: 'remediate';
  readonly instanceId: string;
  readonly state: InstanceState;
  readonly nodeName?: string;
  /** The Node observed, when there is one: the remediation's Events are written on it. */
  readonly node?: NodeRef;
  /** Why EC2 last changed the state (StateReason's code), for the Events' evidence. */
  readonly stateReasonCode?: string;
  /** Force is the last resort, for an instance that is stopped, terminated or gone. */
  readonly forceAllowed: boolean;
  /** When EC2 reported `state` (epoch ms), if known: the taint may rely on a reading this recent. */
  readonly stateReadAt?: number;
  /** When the stop or termination was asked for, by EC2's StateTransitionReason (epoch ms). */
  readonly stateChangeRequestedAt?: number;
}

/** What a stage plans from: what was observed, and what the stages before it planned. */
export interface StagePlanning<Before extends object = object> {
  readonly observation: Observation;
  readonly settings: PlanSettings;
  /** What the stages before it planned (as far as they did). */
  readonly before: Partial<Before>;
}

export interface ExecutionOptions {
  readonly dryRun: boolean;
  /** How long the taint-eviction controller may take to delete a pod before it is force-deleted anyway. */
  readonly evictionGraceMs: number;
  /** How long the attach/detach controller and the attacher may take to free a fenced Node's volumes. */
  readonly controllerGraceMs: number;
  readonly detachTimeoutMs: number;
  readonly forceDetachTimeoutMs: number;
  readonly attacherGraceMs: number;
  /** How long evicted pods are followed to their replacement Running; not at all when absent or 0. */
  readonly recoveryWatchMs?: number;
}

export interface ExecutionDeps extends PollDeps {
  readonly ec2: Ec2Port;
  readonly kube: KubernetesPort;
  /** Called once per action as it finishes: one log line each. */
  readonly onAction?: (record: ActionRecord) => void;
  /** Where the Kubernetes Events go; none in a dry-run. */
  readonly events?: EventSink;
  /**
   * Whether EC2 has released a volume from an instance; shared by the plans executed together
   * (a sweep's batch) so that their checks share DescribeVolumes calls. Each execution makes its
   * own when absent.
   */
  readonly isReleased?: ReleaseChecker;
  /**
   * When the invocation must stop starting work (epoch ms), so it can report before Lambda's
   * timeout cuts it off: actions not started by then fail as "not started", waits end there.
   */
  readonly deadline?: number;
}

/** What a stage runs with: the ports, the options, the run's record so far. */
export interface StageRun {
  readonly deps: ExecutionDeps;
  readonly options: ExecutionOptions;
  readonly recorder: Recorder;
  /** Whether EC2 has released a volume from this plan's instance. */
  readonly isReleased: (volumeId: string) => Promise<boolean>;
}

/** How a stage ended: go on to the next, or stop the remediation of this instance there. */
export type StageEnd = 'next' | 'stop';

/**
 * A stage: `Step` is its part of the plan; `Reads` what it reads of other stages' parts (planned
 * before it, or, when it runs, anywhere in the plan), said in its own terms.
 */
export interface Stage<Step extends object, Reads extends object = object> {
  /** What it does, in a few words. */
  readonly name: string;
  /** Its part of the plan: pure. */
  plan(planning: StagePlanning<Reads>): Step;
  /** The actions its part would take, each once: the circuit breaker counts them. */
  plannedActions(plan: PlanBasics & Step): readonly ActionKind[];
  /** Carries its part out, re-checking what it must before each side effect. */
  run(plan: PlanBasics & Step & Reads, run: StageRun): Promise<StageEnd>;
}
