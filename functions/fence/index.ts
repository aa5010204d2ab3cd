/**
 * Lambda entry of fence (with FENCE_HUNG_NODES): its schedule (every minute), CloudWatch alarms
 * (an EC2 status check naming an instance judges it at once) and manual
 * `{"action":"fence-check"}` invokes.
 */
import { parseFenceInput } from '../shared/events/registry.ts';
import { createLambdaHandler } from '../shared/lambda/lambda-handler.ts';
import { ConfigurationError } from '../shared/util/errors.ts';

export const handler = createLambdaHandler(parseFenceInput, {
  validate: (config) => {
    if (!config.fenceHungNodes) {
      throw new ConfigurationError(
        'invalid configuration: the fence function stops instances, and runs only with FENCE_HUNG_NODES=true (fencing is opt-in)',
      );
    }
  },
});
