/**
 * The one logger, metrics and tracer instance of every function (Powertools for AWS Lambda),
 * created once per cold start and imported where needed.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { metricsNamespace, serviceName } from './metric-names.ts';

export const logger = new Logger({ serviceName });
export const metrics = new Metrics({ namespace: metricsNamespace, serviceName });
export const tracer = new Tracer({ serviceName });

export { metricNames } from './metric-names.ts';
export { MetricUnit };
