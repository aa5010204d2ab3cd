// Sample: events/manual-sweep.json
// {"action":"sweep","dryRun":true}
import * as z from 'zod/mini';
import { malformed, type Request } from './types.ts';

const manualSweepSchema = z.object({ action: z.literal('sweep'), dryRun: z.optional(z.boolean()) });

export function parseManualSweep(input: unknown): Request {
  const parsed = manualSweepSchema.safeParse(input);
  if (!parsed.success) return malformed('manual-sweep', parsed.error);
  return {
    type: 'sweep',
    kind: 'manual-sweep',
    ...(parsed.data.dryRun === undefined ? {} : { dryRun: parsed.data.dryRun }),
    reason: 'manual sweep invoke',
  };
}
