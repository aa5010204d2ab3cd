/**
 * The one logger and metrics instance of every function (Powertools for AWS Lambda), created
 * once per cold start and imported where needed; and the tracer, only where tracing is on.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { MiddlewareObj } from '@middy/core';
import { metricsNamespace, serviceName } from '../contract/metric-names.ts';

export const logger = new Logger({ serviceName });
export const metrics = new Metrics({ namespace: metricsNamespace, serviceName });

/**
 * X-Ray tracing, loaded only when the construct turns it on (its `tracing` property): the tracer
 * and the X-Ray SDK under it take about 100 ms of every cold start to load.
 */
const tracing =
  process.env.POWERTOOLS_TRACE_ENABLED === 'true'
    ? await (async () => {
        const [{ Tracer }, { captureLambdaHandler }] = await Promise.all([
          import('@aws-lambda-powertools/tracer'),
          import('@aws-lambda-powertools/tracer/middleware'),
        ]);
        const tracer: Tracer = new Tracer({ serviceName });
        return { tracer, middleware: captureLambdaHandler(tracer) as MiddlewareObj };
      })()
    : undefined;

/** An AWS SDK client, with its calls traced when tracing is on. */
export function traced<Client>(client: Client): Client {
  return tracing ? tracing.tracer.captureAWSv3Client(client) : client;
}

/** The middy middleware that traces each invocation, when tracing is on. */
export const tracingMiddleware: readonly MiddlewareObj[] = tracing ? [tracing.middleware] : [];

export { metricNames } from '../contract/metric-names.ts';
export { MetricUnit };
