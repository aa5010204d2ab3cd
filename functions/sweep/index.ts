/**
 * Lambda entry of sweep: the schedule, CloudWatch alarms (EventBridge "CloudWatch Alarm State
 * Change" or an alarm's Lambda action), and manual `{"action":"sweep"}` or
 * `{"action":"remediate"}` invokes.
 */
import { parseSweepInput } from '../shared/events/registry.ts';
import { createLambdaHandler } from '../shared/lambda/lambda-handler.ts';

export const handler = createLambdaHandler(parseSweepInput, {
  options: (config, context) => ({
    // No batch starts with less time left than the longest one can take: a plain and a forced
    // detach, the attacher's grace, and the API calls around them.
    sweepDeadline:
      Date.now() +
      context.getRemainingTimeInMillis() -
      (config.detachTimeoutMs + config.forceDetachTimeoutMs + config.attacherGraceMs + 15_000),
  }),
});
