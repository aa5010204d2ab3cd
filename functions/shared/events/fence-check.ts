// Sample: events/manual-fence-check.json
// {"action":"fence-check","dryRun":true}
import * as z from 'zod/mini';
import type { Config } from '../config.ts';
import { malformed, type Request } from './types.ts';

const manualFenceCheckSchema = z.object({
  action: z.literal('fence-check'),
  dryRun: z.optional(z.boolean()),
});

/** `{"action":"fence-check"}`: look for hung nodes now. */
export function parseManualFenceCheck(input: unknown): Request {
  const parsed = manualFenceCheckSchema.safeParse(input);
  if (!parsed.success) return malformed('manual-fence-check', parsed.error);
  return {
    type: 'fence-check',
    kind: 'manual-fence-check',
    ...(parsed.data.dryRun === undefined ? {} : { dryRun: parsed.data.dryRun }),
    reason: 'manual fence check invoke',
  };
}

/**
 * The fence function reads the sweep's inputs its own way: the schedule is a check of every
 * NotReady Node; an alarm that names an instance (an EC2 status check) asks to judge that
 * instance at once; any other alarm, a check of every NotReady Node.
 */
export function asFenceCheck(
  parse: (input: unknown, config: Config) => Request,
): (input: unknown, config: Config) => Request {
  return (input, config) => {
    const request = parse(input, config);
    const time =
      'eventTime' in request && request.eventTime ? { eventTime: request.eventTime } : {};
    switch (request.type) {
      case 'sweep':
        return {
          type: 'fence-check',
          kind: request.kind,
          ...time,
          reason: request.kind === 'schedule' ? 'scheduled fence check' : request.reason,
        };
      case 'remediate':
        return {
          type: 'fence-check',
          kind: request.kind,
          instanceIds: request.instanceIds,
          ...time,
          reason: request.reason,
        };
      default:
        return request;
    }
  };
}
