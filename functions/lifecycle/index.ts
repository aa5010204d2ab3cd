/**
 * Lambda entry of lifecycle: Auto Scaling "EC2 Instance-terminate Lifecycle Action" for the hooks
 * in LIFECYCLE_HOOK_NAMES.
 */

import { parseLifecycleInput } from '../shared/events/registry.ts';
import { createLambdaHandler } from '../shared/lambda/lambda-handler.ts';
import { ConfigurationError } from '../shared/util/errors.ts';

export const handler = createLambdaHandler(parseLifecycleInput, {
  validate: (config) => {
    if (config.lifecycleHookNames.length === 0) {
      throw new ConfigurationError(
        'invalid configuration: LIFECYCLE_HOOK_NAMES is required for the lifecycle function: the terminate lifecycle hooks it may complete, comma-separated',
      );
    }
  },
});
