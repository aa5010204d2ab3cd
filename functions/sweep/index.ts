/**
 * Lambda entry of sweep: the schedule, CloudWatch alarms (EventBridge "CloudWatch Alarm State
 * Change" or an alarm's Lambda action), and manual `{"action":"sweep"}` or
 * `{"action":"remediate"}` invokes. Only wiring; the work is in ../shared.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { loadConfig } from '../shared/config.ts';
import { parseSweepInput } from '../shared/events/registry.ts';
import { handleInput } from '../shared/handle-input.ts';
import { clusterDimension } from '../shared/metric-names.ts';
import { logger, metrics, tracer } from '../shared/observability.ts';
import { createRuntime } from '../shared/runtime.ts';

const config = loadConfig();
const runtime = createRuntime(config);
metrics.setDefaultDimensions({ [clusterDimension]: config.clusterName });

/**
 * The longest one batch of a sweep can take (a plain and a forced detach, the attacher's grace,
 * and the API calls around them): no batch starts with less time than this left.
 */
const batchReserveMs =
  config.detachTimeoutMs + config.forceDetachTimeoutMs + config.attacherGraceMs + 15_000;

export const handler = middy(async (event: unknown, context: Context) =>
  handleInput(
    event,
    parseSweepInput,
    { config, ...runtime, logger, metrics },
    { sweepDeadline: Date.now() + context.getRemainingTimeInMillis() - batchReserveMs },
  ),
)
  .use(captureLambdaHandler(tracer))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
