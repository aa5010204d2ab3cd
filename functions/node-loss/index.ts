/**
 * Lambda entry of node-loss: EventBridge EC2 state changes and Auto Scaling terminations, and
 * manual `{"action":"remediate"}` invokes. Only wiring; the work is in ../shared.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { loadConfig } from '../shared/config.ts';
import { parseNodeLossInput } from '../shared/events/registry.ts';
import { handleInput } from '../shared/handle-input.ts';
import { clusterDimension } from '../shared/metric-names.ts';
import { logger, metrics, tracer } from '../shared/observability.ts';
import { createRuntime } from '../shared/runtime.ts';

// Configuration errors surface at cold start, before any event is taken.
const config = loadConfig();
const runtime = createRuntime(config);
metrics.setDefaultDimensions({ [clusterDimension]: config.clusterName });

export const handler = middy(async (event: unknown) =>
  handleInput(event, parseNodeLossInput, { config, ...runtime, logger, metrics }),
)
  .use(captureLambdaHandler(tracer))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
