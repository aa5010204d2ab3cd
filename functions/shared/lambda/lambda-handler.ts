/**
 * What every Lambda entry shares: configuration and clients read once per cold start (a bad
 * setting fails the cold start with a message that names it), and middy with Powertools'
 * tracer (when tracing is on), logger context and metrics around the shared input handling.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { type Config, loadConfig } from '../config.ts';
import { clusterDimension } from '../contract/metric-names.ts';
import type { Request } from '../events/types.ts';
import { type HandleOptions, handleInput } from '../handle-input.ts';
import { withCutOff } from '../util/invocation-cut-off.ts';
import { logger, metrics, tracingMiddleware } from './observability.ts';
import { createRuntime } from './runtime.ts';

export interface LambdaHandlerOptions {
  /** Checks that only this function needs, at cold start. */
  readonly validate?: (config: Config) => void;
  /** Per-invocation options, such as a sweep's deadline from the remaining time. */
  readonly options?: (config: Config, context: Context) => HandleOptions;
}

/**
 * How long before the Lambda timeout an invocation stops starting work: time for the actions in
 * flight to finish and for the report (logs, metrics, result events), so a slow run ends
 * reported and retried, never cut off by Lambda.
 */
const stopStartingWorkMs = 20_000;

/**
 * How long before the Lambda timeout the calls still in flight are abandoned (the SDK's retries
 * of a hung call can outlast the deadline above); the time left is the report's.
 */
const abandonCallsMs = 10_000;

export function createLambdaHandler(
  parse: (input: unknown, config: Config) => Request,
  settings: LambdaHandlerOptions = {},
) {
  const config = loadConfig();
  settings.validate?.(config);
  const runtime = createRuntime(config);
  metrics.setDefaultDimensions({ [clusterDimension]: config.clusterName });
  return middy(async (event: unknown, context: Context) => {
    const timeoutAt = Date.now() + context.getRemainingTimeInMillis();
    return withCutOff(timeoutAt - abandonCallsMs, () =>
      handleInput(
        event,
        parse,
        { config, ...runtime, logger, metrics },
        { deadline: timeoutAt - stopStartingWorkMs, ...settings.options?.(config, context) },
      ),
    );
  })
    .use([...tracingMiddleware])
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}
