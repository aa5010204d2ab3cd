/**
 * Lambda entry of lifecycle: Auto Scaling "EC2 Instance-terminate Lifecycle Action" for the hooks
 * in LIFECYCLE_HOOK_NAMES. Only wiring; the work is in ../shared.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { loadConfig } from '../shared/config.ts';
import { ConfigurationError } from '../shared/errors.ts';
import { parseLifecycleInput } from '../shared/events/registry.ts';
import { handleInput } from '../shared/handle-input.ts';
import { clusterDimension } from '../shared/metric-names.ts';
import { logger, metrics, tracer } from '../shared/observability.ts';
import { createRuntime } from '../shared/runtime.ts';

const config = loadConfig();
if (config.lifecycleHookNames.length === 0) {
  throw new ConfigurationError(
    'invalid configuration: LIFECYCLE_HOOK_NAMES is required for the lifecycle function: the terminate lifecycle hooks it may complete, comma-separated',
  );
}
const runtime = createRuntime(config);
metrics.setDefaultDimensions({ [clusterDimension]: config.clusterName });

export const handler = middy(async (event: unknown) =>
  handleInput(event, parseLifecycleInput, { config, ...runtime, logger, metrics }),
)
  .use(captureLambdaHandler(tracer))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
