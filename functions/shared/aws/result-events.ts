import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { attachmentsDeleted, podsDeleted, volumesDetached } from '../remediation/execute.ts';
import type { InstanceReport } from '../remediation/remediate.ts';

/** The `source` of every result event. */
export const resultEventSource = 'ebs-volume-remediator';

/** The `detail-type` of the result event sent for each instance acted on. */
export const resultDetailType = 'EBS Volume Remediation Result';

/** The `detail-type` of the one result event a sweep sends. */
export const sweepResultDetailType = 'EBS Volume Sweep Result';

/** The `detail-type` of the result event of a terminate lifecycle hook. */
export const lifecycleResultDetailType = 'EBS Volume Lifecycle Result';

/** One event to send: its detail-type and detail. */
export interface ResultEvent {
  readonly detailType: string;
  readonly detail: object;
}

/** What started the run, as it appears in each result event. */
export interface Trigger {
  readonly kind: string;
  readonly reason: string;
  readonly eventTime?: string;
}

/**
 * The detail of a result event: one instance, what was decided and every action with its
 * outcome. Fields are only ever added, never renamed, so rules written against it keep working.
 */
export interface ResultEventDetail extends InstanceReport {
  readonly clusterName: string;
  readonly trigger: Trigger;
  readonly summary: {
    readonly volumesDetached: number;
    readonly attachmentsDeleted: number;
    readonly podsDeleted: number;
    readonly failures: number;
  };
}

export function resultEventDetail(
  report: InstanceReport,
  clusterName: string,
  trigger: Trigger,
): ResultEventDetail {
  return {
    clusterName,
    trigger,
    ...report,
    summary: {
      volumesDetached: volumesDetached(report.actions),
      attachmentsDeleted: attachmentsDeleted(report.actions),
      podsDeleted: podsDeleted(report.actions),
      failures: report.actions.filter((a) => a.outcome === 'failed').length,
    },
  };
}

/** PutEvents takes at most 10 entries per call. */
const maxEntriesPerCall = 10;

/**
 * Sends the result events to the bus (name or ARN). Resolves with the number of entries
 * EventBridge did not accept.
 */
export async function publishResultEvents(
  client: EventBridgeClient,
  eventBusName: string,
  events: readonly ResultEvent[],
): Promise<number> {
  let failed = 0;
  for (let i = 0; i < events.length; i += maxEntriesPerCall) {
    const batch = events.slice(i, i + maxEntriesPerCall);
    const answer = await client.send(
      new PutEventsCommand({
        Entries: batch.map((event) => ({
          EventBusName: eventBusName,
          Source: resultEventSource,
          DetailType: event.detailType,
          Detail: JSON.stringify(event.detail),
          Resources: [],
        })),
      }),
    );
    failed += answer.FailedEntryCount ?? 0;
  }
  return failed;
}
