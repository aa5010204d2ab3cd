import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  type InstanceReport,
  type RemediationResultDetail,
  resultEventSource,
  type SweepResultDetail,
  type Trigger,
} from '../contract/result-events.ts';
import { attachmentsDeleted, podsDeleted, volumesDetached } from '../remediation/execute.ts';
import type { SweepReport } from '../remediation/sweep.ts';

export {
  fenceResultDetailType,
  lifecycleResultDetailType,
  resultDetailType,
  resultEventSource,
  sweepResultDetailType,
} from '../contract/result-events.ts';

/** One event to send: its detail-type and detail. */
export interface ResultEvent {
  readonly detailType: string;
  readonly detail: object;
}

export function resultEventDetail(
  report: InstanceReport,
  clusterName: string,
  trigger: Trigger,
): RemediationResultDetail {
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

/** EventBridge takes events up to 256 KB: a sweep's event lists its instances without their actions. */
const maxInstancesInSweepEvent = 200;

/** The detail of a sweep's result event. */
export function sweepEventDetail(
  sweep: SweepReport,
  clusterName: string,
  trigger: Trigger,
): SweepResultDetail {
  const { instances, stuckPods, ...summary } = sweep;
  return {
    clusterName,
    trigger,
    ...summary,
    ...(stuckPods ? { stuckPods: stuckPods.slice(0, maxInstancesInSweepEvent) } : {}),
    instances: instances
      .slice(0, maxInstancesInSweepEvent)
      .map(({ actions, skipped, ...rest }) => ({
        ...rest,
        actions: actions.length,
        failedActions: actions.filter((a) => a.outcome === 'failed').length,
      })),
    instancesLeftOut: Math.max(0, instances.length - maxInstancesInSweepEvent),
  };
}
