/**
 * Lambda entry of node-loss: EventBridge EC2 state changes and Auto Scaling terminations, and
 * manual `{"action":"remediate"}` invokes.
 */
import { parseNodeLossInput } from '../shared/events/registry.ts';
import { createLambdaHandler } from '../shared/lambda/lambda-handler.ts';

export const handler = createLambdaHandler(parseNodeLossInput);
