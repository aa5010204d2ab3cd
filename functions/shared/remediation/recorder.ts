/** Runs each action once, timing it and recording its outcome: the report is built from these. */
import { actionRow } from '../contract/actions.ts';
import type { ActionKind, ActionRecord } from '../contract/result-events.ts';
import { messageOf } from '../util/errors.ts';

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
}

export class Recorder {
  readonly records: ActionRecord[] = [];
  private readonly instanceId: string;
  private readonly deps: RecorderDeps;

  constructor(instanceId: string, deps: RecorderDeps) {
    this.instanceId = instanceId;
    this.deps = deps;
  }

  /** Runs one action, timing it and recording its outcome; a failure is recorded, not thrown. */
  async run(
    action: ActionKind,
    target: Pick<ActionRecord, 'volumeId' | 'volumeAttachment' | 'node' | 'pod'>,
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
    return record;
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

  /** Whether any action so far failed. */
  anyFailed(): boolean {
    return this.records.some((r) => r.outcome === 'failed');
  }
}
