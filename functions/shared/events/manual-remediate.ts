// Sample: events/manual-remediate.json
// {"action":"remediate","instanceIds":["i-1234567890abcdef0"],"dryRun":true}
import * as z from 'zod/mini';
import { instanceIdSchema, malformed, type Request } from './types.ts';

/** The most instances one manual invoke may name: one DescribeInstances filter's worth. */
export const maxManualInstanceIds = 200;

const manualRemediateSchema = z.object({
  action: z.literal('remediate'),
  instanceIds: z.array(instanceIdSchema).check(z.minLength(1), z.maxLength(maxManualInstanceIds)),
  dryRun: z.optional(z.boolean()),
});

export function parseManualRemediate(input: unknown): Request {
  const parsed = manualRemediateSchema.safeParse(input);
  if (!parsed.success) return malformed('manual-remediate', parsed.error);
  return {
    type: 'remediate',
    kind: 'manual-remediate',
    instanceIds: [...new Set(parsed.data.instanceIds)],
    ...(parsed.data.dryRun === undefined ? {} : { dryRun: parsed.data.dryRun }),
    reason: 'manual remediate invoke',
  };
}
