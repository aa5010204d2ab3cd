import type { Config } from '../config.ts';
import { autoScalingInstanceTerminateSuccessful } from './autoscaling-instance-terminate-successful.ts';
import { autoScalingLifecycleAction } from './autoscaling-lifecycle-action.ts';
import { cloudWatchAlarmActionPayload, cloudWatchAlarmStateChange } from './cloudwatch-alarm.ts';
import { ec2InstanceStateChange } from './ec2-instance-state-change.ts';
import { asFenceCheck, parseManualFenceCheck } from './fence-check.ts';
import { parseManualRemediate } from './manual-remediate.ts';
import { parseManualSweep } from './manual-sweep.ts';
import { scheduledEvent } from './scheduled-event.ts';
import {
  type EventParser,
  envelopeSchema,
  malformed,
  type Request,
  shown,
  withBoundedReason,
} from './types.ts';

/** What one function accepts: EventBridge events by kind, manual invokes by action. */
export interface InputRegistry {
  readonly parsers: readonly EventParser[];
  readonly actions: Readonly<Record<string, (input: unknown) => Request>>;
  /** Payloads that are neither an EventBridge event nor a manual invoke, tried first. */
  readonly otherShapes?: ReadonlyArray<(input: Record<string, unknown>) => Request | undefined>;
}

function key(source: string, detailType: string): string {
  return `${source}\u0000${detailType}`;
}

function isObject(input: unknown): input is Record<string, unknown> {
  return typeof input === 'object' && input !== null && !Array.isArray(input);
}

/**
 * A parser for whatever a function is invoked with. It never throws: bad or unknown input
 * becomes a skip with a reason, because retrying it could never help.
 */
export function createInputParser(
  registry: InputRegistry,
): (input: unknown, config: Config) => Request {
  const byKind = new Map(registry.parsers.map((p) => [key(p.source, p.detailType), p]));
  // A Map, not the object: `{"action":"constructor"}` must not find Object.prototype's members
  // (a plain lookup returned `Object` itself, which handed the unvalidated input on as a request).
  const actions = new Map(Object.entries(registry.actions));
  const actionNames = Object.keys(registry.actions)
    .map((a) => `"${a}"`)
    .join(' or ');
  const fromAction = (input: Record<string, unknown>): Request => {
    const parseAction = typeof input.action === 'string' ? actions.get(input.action) : undefined;
    if (parseAction) return parseAction(input);
    return {
      type: 'skip',
      kind: 'unknown',
      reason: `unknown action ${shown(input.action)}: this function accepts ${actionNames}`,
    };
  };
  const fromEvent = (input: unknown, config: Config): Request => {
    if (
      !isObject(input) ||
      typeof input.source !== 'string' ||
      typeof input['detail-type'] !== 'string'
    ) {
      return {
        type: 'skip',
        kind: 'malformed',
        reason: `neither an EventBridge event (with source and detail-type) nor a manual invoke (action ${actionNames})`,
      };
    }
    const envelope = envelopeSchema.safeParse(input);
    if (!envelope.success) return malformed('malformed', envelope.error);
    const { source } = envelope.data;
    const detailType = envelope.data['detail-type'];
    const parser = byKind.get(key(source, detailType));
    if (!parser) {
      return {
        type: 'skip',
        kind: 'unknown',
        reason: `no parser for source ${shown(source)} and detail-type ${shown(detailType)}`,
      };
    }
    return parser.parse(envelope.data, config);
  };
  const parse = (input: unknown, config: Config): Request => {
    if (!isObject(input)) return fromEvent(input, config);
    for (const shape of registry.otherShapes ?? []) {
      const request = shape(input);
      if (request) return request;
    }
    if ('action' in input && !('source' in input)) return fromAction(input);
    return fromEvent(input, config);
  };
  return (input, config) => withBoundedReason(parse(input, config));
}

/** node-loss: EC2 state changes, Auto Scaling terminations, `{"action":"remediate"}`. */
export const parseNodeLossInput = createInputParser({
  parsers: [ec2InstanceStateChange, autoScalingInstanceTerminateSuccessful],
  actions: { remediate: parseManualRemediate },
});

/** sweep: the schedule, CloudWatch alarms (both shapes), `{"action":"sweep"}` and `{"action":"remediate"}`. */
export const parseSweepInput = createInputParser({
  parsers: [scheduledEvent, cloudWatchAlarmStateChange],
  actions: { sweep: parseManualSweep, remediate: parseManualRemediate },
  otherShapes: [cloudWatchAlarmActionPayload],
});

/** lifecycle: Auto Scaling "EC2 Instance-terminate Lifecycle Action" of the configured hooks. */
export const parseLifecycleInput = createInputParser({
  parsers: [autoScalingLifecycleAction],
  actions: {},
});

/**
 * fence: its schedule, CloudWatch alarms (both shapes; one naming an instance judges it at
 * once), `{"action":"fence-check"}`.
 */
export const parseFenceInput = asFenceCheck(
  createInputParser({
    parsers: [scheduledEvent, cloudWatchAlarmStateChange],
    actions: { 'fence-check': parseManualFenceCheck },
    otherShapes: [cloudWatchAlarmActionPayload],
  }),
);
