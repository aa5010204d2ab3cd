// Samples: events/cloudwatch-alarm-state-change.json (EventBridge) and
// events/cloudwatch-alarm-lambda-action.json (an alarm's Lambda action). Both carry the same
// alarm data: {"alarmName":"...","state":{"value":"ALARM",...},"configuration":{"metrics":[
//   {"metricStat":{"metric":{"namespace":"AWS/EC2","name":"StatusCheckFailed",
//    "dimensions":{"InstanceId":"i-..."}}}}]}}

import * as z from 'zod/mini';
import { eventSources } from '../contract/event-sources.ts';
import { isInstanceId } from '../identity/aws-ids.ts';
import type { EventParser, Request } from './types.ts';
import { malformed, shown } from './types.ts';

const alarmDataSchema = z.object({
  alarmName: z.string(),
  state: z.object({ value: z.string(), timestamp: z.optional(z.string()) }),
  configuration: z.optional(
    z.object({
      metrics: z.optional(
        z.array(
          z.object({
            metricStat: z.optional(
              z.object({
                metric: z.object({ dimensions: z.optional(z.record(z.string(), z.string())) }),
              }),
            ),
          }),
        ),
      ),
    }),
  ),
});

const kind = 'cloudwatch-alarm';

/**
 * An alarm entering ALARM: a metric with an `InstanceId` dimension names the instance to
 * remediate (the EC2 state check still applies); any other alarm starts a sweep.
 */
function fromAlarmData(data: unknown, eventTime: Date | undefined): Request {
  const parsed = alarmDataSchema.safeParse(data);
  if (!parsed.success) return malformed(kind, parsed.error);
  const alarm = parsed.data;
  if (alarm.state.value !== 'ALARM') {
    return {
      type: 'skip',
      kind,
      reason: `alarm ${shown(alarm.alarmName)} entered ${shown(alarm.state.value)}, not ALARM: nothing to do`,
    };
  }
  const instanceIds = [
    ...new Set(
      (alarm.configuration?.metrics ?? [])
        .map((m) => m.metricStat?.metric.dimensions?.InstanceId)
        .filter((id): id is string => id !== undefined && isInstanceId(id)),
    ),
  ];
  const time = eventTime ? { eventTime } : {};
  if (instanceIds.length > 0) {
    return {
      type: 'remediate',
      kind,
      instanceIds,
      ...time,
      reason: `alarm ${shown(alarm.alarmName)} in ALARM for ${instanceIds.join(', ')}`,
    };
  }
  return { type: 'sweep', kind, ...time, reason: `alarm ${shown(alarm.alarmName)} in ALARM` };
}

/** The EventBridge "CloudWatch Alarm State Change" event. */
export const cloudWatchAlarmStateChange: EventParser = {
  ...eventSources.cloudWatchAlarmStateChange,
  parse: (event) => fromAlarmData(event.detail, new Date(event.time)),
};

/** The payload of an alarm's Lambda action: no detail-type, the alarm under `alarmData`. */
export function cloudWatchAlarmActionPayload(input: Record<string, unknown>): Request | undefined {
  if (input.source !== eventSources.cloudWatchAlarmStateChange.source || !('alarmData' in input))
    return undefined;
  const time = typeof input.time === 'string' ? new Date(input.time) : undefined;
  return fromAlarmData(input.alarmData, time && !Number.isNaN(time.getTime()) ? time : undefined);
}
