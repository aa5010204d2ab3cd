import type { ActionKind, StuckPod } from '../functions/shared/contract/result-events.ts';
import type { FenceCheckReport } from '../functions/shared/fencing/check-hung-nodes.ts';
import type { InvocationResult } from '../functions/shared/handle-input.ts';
import { attachmentsDeleted, volumesDetached } from '../functions/shared/remediation/execute.ts';
import type { InstanceReport } from '../functions/shared/remediation/remediate.ts';
import type { SweepReport } from '../functions/shared/remediation/sweep.ts';

/** Left-aligned columns, two spaces apart. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Done, or in a dry run planned. */
const doneOrPlanned = ['done', 'planned'] as const;

function instanceRows(reports: readonly InstanceReport[]): string[][] {
  return reports.map((r) => [
    r.instanceId,
    r.nodeName ?? '-',
    r.state,
    r.outcome,
    String(volumesDetached(r.actions, doneOrPlanned)),
    String(attachmentsDeleted(r.actions, doneOrPlanned)),
    r.reason ?? r.actions.find((a) => a.outcome === 'failed')?.detail ?? '',
  ]);
}

/** The evicted pods followed to their replacement: the time to recover, or what it waits on. */
function recoveryLines(reports: readonly InstanceReport[]): string[] {
  const recoveries = reports.flatMap((r) => r.recoveries ?? []);
  if (recoveries.length === 0) return [];
  const rows = recoveries.map((r) => [
    r.pod,
    r.outcome,
    r.node ?? '-',
    r.secondsToRecover === undefined ? '-' : `${r.secondsToRecover} s`,
    r.waitingOn ?? '',
  ]);
  return ['', table(['POD', 'RECOVERY', 'NODE', 'TIME TO RECOVER', 'WAITING ON'], rows)];
}

/** A fence check: what it looked at, and each hung node's verdict with its evidence. */
function fenceCheckLines(check: FenceCheckReport, clusterName: string, mode: string): string[] {
  const lines = [
    `Fence check of cluster ${clusterName}${mode}`,
    '',
    `${check.nodesExamined} Nodes examined, ${check.notReady} NotReady, ${check.reports.length} hung (or named by an alarm)`,
  ];
  if (check.reports.length === 0) return lines;
  const rows = check.reports.map((r) => [
    r.instanceId,
    r.nodeName ?? '-',
    r.evidence.instanceState ?? '-',
    r.evidence.leaseRenewedAt ?? '-',
    r.outcome,
    r.reason,
  ]);
  return [
    ...lines,
    '',
    table(['INSTANCE', 'NODE', 'STATE', 'LEASE RENEWED', 'OUTCOME', 'NOTE'], rows),
  ];
}

/** Pods on live Nodes that wait for a volume a dead instance's Node holds. */
function stuckPodLines(stuck: readonly StuckPod[]): string[] {
  if (stuck.length === 0) return [];
  const rows = stuck.map((p) => [p.pod, p.node, p.claim, `${p.heldBy} (${p.instanceId})`]);
  return [
    '',
    'Pods stuck behind dead nodes (Multi-Attach: their volume is attached to a dead node):',
    table(['POD', 'SCHEDULED ON', 'CLAIM', 'VOLUME HELD BY'], rows),
  ];
}

/**
 * `status`: per dead instance of the cluster, what it still holds, read from what a sweep would
 * do (its dry-run); and the pods stuck behind them.
 */
export function renderStatus(sweep: SweepReport, clusterName: string): string {
  const planned = (r: InstanceReport, action: ActionKind) =>
    r.actions.filter((a) => a.action === action && a.outcome === 'planned').length;
  const rows = sweep.instances.map((r) => [
    r.instanceId,
    r.nodeName ?? '-',
    r.state,
    planned(r, 'taint-node') > 0 ? 'to add' : '-',
    String(planned(r, 'delete-pod')),
    String(planned(r, 'delete-volumeattachment')),
    String(planned(r, 'detach-volume')),
    r.outcome === 'dry-run' ? 'a sweep frees it' : (r.reason ?? r.outcome),
  ]);
  const lines = [
    `Status of cluster ${clusterName}: ${sweep.instances.length} dead instance(s) still holding something (nothing was changed)`,
  ];
  if (rows.length > 0) {
    lines.push(
      '',
      table(
        ['INSTANCE', 'NODE', 'STATE', 'TAINT', 'PODS', 'ATTACHMENTS', 'VOLUMES IN EC2', 'NOTE'],
        rows,
      ),
    );
  }
  lines.push(...stuckPodLines(sweep.stuckPods ?? []));
  if (sweep.unresolvedAttachments.length > 0) {
    lines.push(
      '',
      `VolumeAttachments naming no instance: ${sweep.unresolvedAttachments.join(', ')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The readable summary the command line prints at the end. */
export function renderResult(result: InvocationResult, clusterName: string): string {
  if (result.status === 'skipped') return `nothing done: ${result.reason}\n`;
  if (result.status === 'lifecycle') {
    return `lifecycle action of ${result.lifecycle.instanceId}: ${result.lifecycle.outcome}\n`;
  }
  const mode = result.dryRun ? ' (dry-run: nothing was changed)' : '';
  const verb = result.dryRun ? 'planned' : 'done';
  const header = ['INSTANCE', 'NODE', 'STATE', 'OUTCOME', 'DETACH', 'DELETE', 'NOTE'];
  const parts: string[] = [];
  if (result.status === 'swept') {
    const s = result.sweep;
    const actions = s.instances.flatMap((r) => r.actions);
    parts.push(
      `Sweep of cluster ${clusterName}${mode}`,
      '',
      table(
        ['', ''],
        [
          ['nodes examined', String(s.nodesExamined)],
          ['attachments examined', String(s.attachmentsExamined)],
          ['stale instances', String(s.staleInstances)],
          ['stale attachments', String(s.staleAttachments)],
          ['missed by the events', String(s.eventsMissed)],
          ['pods stuck behind dead nodes', String(s.stuckPods?.length ?? 0)],
          [`volumes detached (${verb})`, String(volumesDetached(actions, doneOrPlanned))],
          [`attachments deleted (${verb})`, String(attachmentsDeleted(actions, doneOrPlanned))],
          ['refusals', String(s.summary.refusals)],
          ['failures', String(s.summary.failures)],
          ['unresolved attachments', String(s.unresolvedAttachments.length)],
          [
            'complete',
            s.complete ? 'yes' : `no: ${s.deferred.length} instances left for the next run`,
          ],
          ['time', `${(s.elapsedMs / 1000).toFixed(1)} s`],
        ],
      ).replace(/^\s+\n/, ''),
    );
    if (s.instances.length > 0) parts.push('', table(header, instanceRows(s.instances)));
    parts.push(...stuckPodLines(s.stuckPods ?? []), ...recoveryLines(s.instances));
  } else if (result.status === 'fence-check') {
    parts.push(...fenceCheckLines(result.check, clusterName, mode));
    const recoveries = result.check.reports.flatMap((r) => (r.recovery ? [r.recovery] : []));
    if (recoveries.length > 0) parts.push('', table(header, instanceRows(recoveries)));
    parts.push(...recoveryLines(recoveries));
  } else {
    parts.push(
      `Remediation in cluster ${clusterName}${mode}`,
      '',
      table(header, instanceRows(result.instances)),
      ...recoveryLines(result.instances),
    );
  }
  return `${parts.join('\n')}\n`;
}
