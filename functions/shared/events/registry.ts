import type { Config } from '../config.ts';
import { autoScalingInstanceTerminateSuccessful } from './autoscaling-instance-terminate-successful.ts';
import { ec2InstanceStateChange } from './ec2-instance-state-change.ts';
import { parseManualRemediate } from './manual-remediate.ts';
import { type EventParser, envelopeSchema, malformed, type Request } from './types.ts';

const parsers: readonly EventParser[] = [
  ec2InstanceStateChange,
  autoScalingInstanceTerminateSuccessful,
];

const registry = new Map(parsers.map((parser) => [key(parser.source, parser.detailType), parser]));

function key(source: string, detailType: string): string {
  return `${source}\u0000${detailType}`;
}

function isObject(input: unknown): input is Record<string, unknown> {
  return typeof input === 'object' && input !== null && !Array.isArray(input);
}

/**
 * Turns whatever the node-loss function was invoked with into a request. Never throws: bad or
 * unknown input becomes a skip with a reason, because retrying it could never help.
 */
export function parseNodeLossInput(input: unknown, config: Config): Request {
  if (isObject(input) && 'action' in input && !('source' in input)) {
    if (input.action === 'remediate') return parseManualRemediate(input);
    return {
      type: 'skip',
      kind: 'unknown',
      reason: `unknown action ${JSON.stringify(input.action)}: node-loss accepts "remediate"`,
    };
  }
  if (
    !isObject(input) ||
    typeof input.source !== 'string' ||
    typeof input['detail-type'] !== 'string'
  ) {
    return {
      type: 'skip',
      kind: 'malformed',
      reason:
        'neither an EventBridge event (with source and detail-type) nor a manual invoke ' +
        '({"action":"remediate","instanceIds":["i-..."]})',
    };
  }
  const envelope = envelopeSchema.safeParse(input);
  if (!envelope.success) return malformed('malformed', envelope.error);
  const { source } = envelope.data;
  const detailType = envelope.data['detail-type'];
  const parser = registry.get(key(source, detailType));
  if (!parser) {
    return {
      type: 'skip',
      kind: 'unknown',
      reason: `no parser for source ${source} and detail-type "${detailType}"`,
    };
  }
  return parser.parse(envelope.data, config);
}
