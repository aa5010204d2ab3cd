/**
 * Runs each action once, timing it and recording its outcome: the report is built from these.
 * A done action writes its Kubernetes Event (the catalogue's) on the object it acted on.
 */
import { actionRow } from '../contract/actions.ts';
import type {
  ActionKind,
  ActionRecord,
  InstanceState,
  PodRecovery,
} from '../contract/result-events.ts';
import { messageOf } from '../util/errors.ts';
import type { EventSink, ObjectRef } from './ports.ts';

export interface ActionResult {
  readonly outcome: ActionRecord['outcome'];
  readonly detail?: string;
  /** What the action turned out to be, when that differs from what it set out to do. */
  readonly action?: ActionKind;
}

/** The detail of an action the invocation had no time left to start. */
export const notStarted =
  'not started: the invocation stopped starting work before its timeout; the retry will do it';

export interface RecorderDeps {
  /** Called once per action as it finishes: one log line each. */
  readonly onAction?: (record: ActionRecord) => void;
  /** When the invocation must stop starting work (epoch ms): later actions fail as not started. */
  readonly deadline?: number;
  /** Where done actions' Kubernetes Events go; none in a dry-run. */
  readonly events?: EventSink;
}

/** What an action acts on: named in its record, and the object its Event is written on. */
export type ActionTarget = Pick<ActionRecord, 'volumeId' | 'volumeAttachment' | 'node' | 'pod'> & {
  readonly regarding?: ObjectRef;
};

/** An action's name as an Event's `action`: taint-node is TaintNode. */
function camelCase(action: ActionKind): string {
  return action.replace(/(^|-)(\w)/g, (_, _dash, letter: string) => letter.toUpperCase());
}

export class Recorder {
  readonly records: ActionRecord[] = [];
  /** The evicted pods followed to their replacements (the last stage's). */
  readonly recoveries: PodRecovery[] = [];
  private readonly instanceId: string;
  private readonly deps: RecorderDeps;
  /** EC2's state of the instance when it was planned: the evidence each Event names. */
  private readonly state: InstanceState | undefined;

  constructor(instanceId: string, deps: RecorderDeps, state?: InstanceState) {
    this.instanceId = instanceId;
    this.deps = deps;
    this.state = state;
  }

  /** Runs one action, timing it and recording its outcome; a failure is recorded, not thrown. */
  async run(
    action: ActionKind,
    { regarding, ...target }: ActionTarget,
    perform: () => Promise<ActionResult>,
  ): Promise<ActionRecord> {
    const started = Date.now();
    const result = await this.perform(action, started, perform);
    // A dry-run's record says what would be done, where the action says nothing more precise.
    const detail =
      result.detail ?? (result.outcome === 'planned' ? actionRow(action).wouldDo : undefined);
    const record: ActionRecord = {
      action: result.action ?? action,
      instanceId: this.instanceId,
      ...target,
      outcome: result.outcome,
      ...(detail ? { detail } : {}),
      durationMs: Date.now() - started,
    };
    this.records.push(record);
    this.deps.onAction?.(record);
    if (regarding && record.outcome === 'done') this.writeEvent(record, regarding);
    return record;
  }

  /** The catalogue's Event of a done action, on the object it acted on. */
  private writeEvent(record: ActionRecord, regarding: ObjectRef): void {
    const { event, byOthers } = actionRow(record.action);
    if (byOthers && !this.actedItself()) return;
    const instance = this.state
      ? `EC2 reports instance ${this.instanceId} ${this.state}`
      : `instance ${this.instanceId}`;
    this.deps.events?.record({
      regarding,
      reason: event.reason,
      action: camelCase(record.action),
      type: event.type,
      note: `${event.note}: ${instance}${record.detail ? `; ${record.detail}` : ''}`,
    });
  }

  private async perform(
    action: ActionKind,
    started: number,
    perform: () => Promise<ActionResult>,
  ): Promise<ActionResult> {
    const { deadline } = this.deps;
    if (deadline !== undefined && started >= deadline && action !== 'controllers-detached') {
      // Started this late, it could be cut off half done; the retry of the event will do it.
      return { outcome: 'failed', detail: notStarted };
    }
    try {
      return await perform();
    } catch (error) {
      return { outcome: 'failed', detail: messageOf(error) };
    }
  }

  /** Whether this run did anything itself (beyond seeing what other controllers did). */
  actedItself(): boolean {
    return this.records.some((r) => r.outcome === 'done' && !actionRow(r.action).byOthers);
  }

  /** Whether any action so far failed. */
  anyFailed(): boolean {
    return this.records.some((r) => r.outcome === 'failed');
  }
}
