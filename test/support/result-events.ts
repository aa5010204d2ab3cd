import { randomBytes } from 'node:crypto';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type ReceiveMessageCommandOutput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  type RemediationResultDetail,
  resultEventSource,
} from '#functions/shared/contract/result-events.ts';
import { awsClientConfig } from './environment.ts';

export interface DeliveredResultEvent {
  readonly source: string;
  readonly 'detail-type': string;
  /** A RemediationResultDetail for instance results; other result kinds carry their own detail. */
  readonly detail: RemediationResultDetail | Record<string, unknown>;
}

/**
 * An EventBridge bus whose rule routes the remediator's result events to an SQS queue, the way
 * an operator would subscribe to them, so tests read what was really delivered.
 */
export async function resultEventInbox() {
  const suffix = randomBytes(4).toString('hex');
  const events = new EventBridgeClient(awsClientConfig());
  const sqs = new SQSClient(awsClientConfig());
  const busName = `remediator-results-${suffix}`;
  await events.send(new CreateEventBusCommand({ Name: busName }));
  const { QueueUrl: queueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: `remediator-results-${suffix}` }),
  );
  if (!queueUrl) throw new Error('CreateQueue returned no URL');
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  await events.send(
    new PutRuleCommand({
      Name: `results-${suffix}`,
      EventBusName: busName,
      EventPattern: JSON.stringify({ source: [resultEventSource] }),
    }),
  );
  await events.send(
    new PutTargetsCommand({
      Rule: `results-${suffix}`,
      EventBusName: busName,
      Targets: [{ Id: 'queue', Arn: Attributes?.QueueArn }],
    }),
  );
  return {
    busName,
    /** Every event delivered so far (waits up to 2 s for the first). */
    async receive(): Promise<DeliveredResultEvent[]> {
      const received: DeliveredResultEvent[] = [];
      for (;;) {
        const answer: ReceiveMessageCommandOutput = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: received.length === 0 ? 2 : 0,
          }),
        );
        const messages = answer.Messages ?? [];
        if (messages.length === 0) return received;
        received.push(...messages.map((m) => JSON.parse(m.Body ?? '{}') as DeliveredResultEvent));
      }
    },
  };
}
