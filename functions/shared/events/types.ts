import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import type { Config } from '../config.ts';
import { isInstanceId } from '../identity/aws-ids.ts';
import type { Expectation } from '../remediation/await-state.ts';

/** The kinds of input the functions tell apart, for logs and the `EventsReceived` metric. */
export type EventKind =
  | 'ec2-instance-state-change'
  | 'autoscaling-instance-terminate-successful'
  | 'manual-remediate'
  | 'manual-sweep'
  | 'schedule'
  | 'cloudwatch-alarm'
  | 'autoscaling-lifecycle-action'
  | 'manual-fence-check'
  | 'unknown'
  | 'malformed';

/** What an input asks the remediator to do, decided from the input alone. */
export type Request =
  | {
      readonly type: 'remediate';
      readonly kind: EventKind;
      readonly instanceIds: readonly string[];
      /** The event's own `time`, to measure latency from; absent for manual invokes. */
      readonly eventTime?: Date;
      /**
       * When EC2 said the instances were stopped or terminated (an EC2 state-change event's
       * time): no kubelet of theirs ran after it.
       */
      readonly diedAt?: Date;
      /** What the event says EC2 will report for the instances (see await-state.ts). */
      readonly expects?: Expectation;
      /** A per-invoke dry-run; the configured DRY_RUN wins when it is on. */
      readonly dryRun?: boolean;
      readonly reason: string;
    }
  | {
      readonly type: 'lift-taint';
      readonly kind: EventKind;
      readonly instanceIds: readonly string[];
      readonly eventTime?: Date;
      readonly expects?: Expectation;
      readonly reason: string;
    }
  | {
      readonly type: 'sweep';
      readonly kind: EventKind;
      readonly eventTime?: Date;
      readonly dryRun?: boolean;
      readonly reason: string;
    }
  | {
      readonly type: 'fence-check';
      readonly kind: EventKind;
      /** Instances an alarm named: judged at once (see fencing/check-hung-nodes.ts). */
      readonly instanceIds?: readonly string[];
      readonly eventTime?: Date;
      readonly dryRun?: boolean;
      readonly reason: string;
    }
  | {
      readonly type: 'lifecycle';
      readonly kind: EventKind;
      readonly lifecycleAction: LifecycleAction;
      readonly eventTime: Date;
      readonly reason: string;
    }
  | { readonly type: 'skip'; readonly kind: EventKind; readonly reason: string };

/** A terminate lifecycle action an Auto Scaling group holds its instance in. */
export interface LifecycleAction {
  readonly instanceId: string;
  readonly autoScalingGroupName: string;
  readonly lifecycleHookName: string;
  readonly lifecycleActionToken: string;
}

/** One parser per event kind, keyed in the registry by source and detail-type. */
export interface EventParser {
  readonly source: string;
  readonly detailType: string;
  parse(event: EventBridgeEnvelope, config: Config): Request;
}

// zod/mini leaves its messages out unless asked; zod's full API loads the same English ones.
z.config(en());

export const instanceIdSchema = z
  .string()
  .check(z.refine(isInstanceId, { error: 'must be an EC2 instance id (i-...)' }));

/** The fields EventBridge puts on every event. */
export const envelopeSchema = z.object({
  version: z.string(),
  id: z.string(),
  'detail-type': z.string(),
  source: z.string(),
  time: z.iso.datetime({ offset: true }),
  region: z.string(),
  resources: z.array(z.string()),
  detail: z.unknown(),
});

export type EventBridgeEnvelope = z.infer<typeof envelopeSchema>;

/** The longest value of an input a skip reason repeats: enough to recognise it, never a flood. */
const maxShownLength = 64;

/**
 * A value from the input, quoted and cut for a log line: a 1 MB `action` must not become a
 * 1 MB log event (CloudWatch caps them at 256 KB).
 */
export function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const cut =
    text.length > maxShownLength
      ? `${text.slice(0, maxShownLength)}... (${text.length} characters)`
      : text;
  return JSON.stringify(cut);
}

/** The longest reason a request carries; every reason is cut to it. */
export const maxReasonLength = 1000;

/** The request with its reason cut to `maxReasonLength`, however much of the input it repeats. */
export function withBoundedReason(request: Request): Request {
  if (request.reason.length <= maxReasonLength) return request;
  const reason = `${request.reason.slice(0, maxReasonLength - 20)}... (cut)`;
  return { ...request, reason };
}

/** A skip for an input that does not have the shape its kind promises. */
export function malformed(kind: EventKind, error: z.core.$ZodError): Request {
  const problems = error.issues.map(
    (issue) => `${issue.path.join('.') || '(event)'} ${issue.message}`,
  );
  const what = kind === 'malformed' ? 'EventBridge event' : `${kind} event`;
  return { type: 'skip', kind, reason: `malformed ${what}: ${problems.join('; ')}` };
}
