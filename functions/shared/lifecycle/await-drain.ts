/**
 * Scale-in with a terminate lifecycle hook: the group holds the instance (still running) until
 * the hook is completed. The remediator uses that wait: it lets whatever drains the node finish
 * detaching its volumes, keeps the hook alive with heartbeats, and completes it with CONTINUE as
 * soon as the node's VolumeAttachments are gone, or when its wait budget is spent. It never
 * detaches or deletes anything itself here: the instance is running.
 */

import type { LifecycleReport } from '../contract/result-events.ts';
import type { LifecycleAction } from '../events/types.ts';
import { attachmentsOfInstance, nodeOfInstance } from '../remediation/matching.ts';
import type { Ec2Port, KubernetesPort } from '../remediation/ports.ts';

// The report's types are the public result event contract's.
export type { LifecycleReport };

/** The Auto Scaling calls of a lifecycle action, and nothing more. */
export interface AutoScalingPort {
  /** The hook's own heartbeat timeout, or undefined when Auto Scaling does not know the hook. */
  heartbeatTimeoutSeconds(action: LifecycleAction): Promise<number | undefined>;
  /** `not-active` when Auto Scaling no longer holds that action (completed, or timed out). */
  recordHeartbeat(action: LifecycleAction): Promise<'recorded' | 'not-active'>;
  complete(
    action: LifecycleAction,
    result: 'CONTINUE' | 'ABANDON',
  ): Promise<'completed' | 'not-active'>;
}

export interface AwaitDrainSettings {
  readonly waitBudgetMs: number;
  readonly heartbeatIntervalMs: number;
  readonly pollIntervalMs?: number;
  /** Report what it would wait for, and send Auto Scaling nothing: no heartbeat, no completion. */
  readonly dryRun?: boolean;
}

export interface AwaitDrainDeps {
  readonly kube: KubernetesPort;
  readonly ec2: Pick<Ec2Port, 'describeInstances'>;
  readonly autoScaling: AutoScalingPort;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

export async function awaitDrainAndComplete(
  action: LifecycleAction,
  deps: AwaitDrainDeps,
  settings: AwaitDrainSettings,
): Promise<LifecycleReport> {
  const now = deps.now ?? Date.now;
  // A gentle poll: one VolumeAttachment list per instance every few seconds, not every second.
  const pollIntervalMs = settings.pollIntervalMs ?? 5000;
  const started = now();
  const node = nodeOfInstance(await deps.kube.listNodes(), action.instanceId);
  const about = {
    instanceId: action.instanceId,
    ...(node ? { nodeName: node.name } : {}),
    autoScalingGroupName: action.autoScalingGroupName,
    lifecycleHookName: action.lifecycleHookName,
  };
  const report = (
    outcome: LifecycleReport['outcome'],
    attachmentsLeft: readonly string[],
    heartbeats: number,
  ): LifecycleReport => ({
    ...about,
    dryRun: settings.dryRun ?? false,
    outcome,
    attachmentsLeft,
    heartbeats,
    waitedMs: now() - started,
  });

  // An instance already terminated or gone has nothing left to drain: complete at once.
  const state = (await deps.ec2.describeInstances([action.instanceId])).get(
    action.instanceId,
  )?.state;
  const attachmentsNow = async () =>
    attachmentsOfInstance(
      await deps.kube.listVolumeAttachments(),
      action.instanceId,
      node?.name,
    ).map((a) => a.name);
  const ended = state === 'terminated' || state === 'gone';
  if (settings.dryRun) {
    // What it would wait for now; the hook is left to its own timeout and default result.
    return report('dry-run', ended ? [] : await attachmentsNow(), 0);
  }
  if (ended) {
    const completed = await deps.autoScaling.complete(action, 'CONTINUE');
    return report(completed === 'not-active' ? 'already-completed' : 'instance-gone', [], 0);
  }
  // The first heartbeat also tells a replayed event from a live one, before any waiting.
  if ((await deps.autoScaling.recordHeartbeat(action)) === 'not-active') {
    return report('already-completed', [], 0);
  }
  // Heartbeats follow the hook's own timeout (twice within it), never later than configured.
  const hookTimeout = await deps.autoScaling.heartbeatTimeoutSeconds(action);
  const heartbeatIntervalMs = Math.min(
    settings.heartbeatIntervalMs,
    hookTimeout === undefined ? Number.POSITIVE_INFINITY : (hookTimeout * 1000) / 2,
  );
  const waited = await heartbeatUntilDrained(action, deps, {
    attachmentsNow,
    started,
    waitBudgetMs: settings.waitBudgetMs,
    pollIntervalMs,
    heartbeatIntervalMs,
  });
  const { left, heartbeats } = waited;
  if (waited.completedElsewhere) return report('already-completed', left, heartbeats);
  const outcome = left.length === 0 ? 'drained' : 'budget-spent';
  if ((await deps.autoScaling.complete(action, 'CONTINUE')) === 'not-active') {
    return report('already-completed', left, heartbeats);
  }
  return report(outcome, left, heartbeats);
}

/** What the wait for the node's VolumeAttachments is given. */
interface DrainWait {
  readonly attachmentsNow: () => Promise<string[]>;
  readonly started: number;
  readonly waitBudgetMs: number;
  readonly pollIntervalMs: number;
  readonly heartbeatIntervalMs: number;
}

/**
 * Polls the node's VolumeAttachments until none is left or the budget is spent, sending a
 * heartbeat whenever one is due (one was sent before the wait). Stops early when Auto Scaling
 * no longer holds the action.
 */
async function heartbeatUntilDrained(
  action: LifecycleAction,
  deps: AwaitDrainDeps,
  wait: DrainWait,
): Promise<{ left: string[]; heartbeats: number; completedElsewhere: boolean }> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let heartbeats = 1;
  let lastHeartbeat = now();
  for (;;) {
    const left = await wait.attachmentsNow();
    const elapsed = now() - wait.started;
    if (left.length === 0 || elapsed >= wait.waitBudgetMs) {
      return { left, heartbeats, completedElsewhere: false };
    }
    if (now() - lastHeartbeat >= wait.heartbeatIntervalMs) {
      if ((await deps.autoScaling.recordHeartbeat(action)) === 'not-active') {
        return { left, heartbeats, completedElsewhere: true };
      }
      heartbeats++;
      lastHeartbeat = now();
    }
    await sleep(
      Math.min(
        wait.pollIntervalMs,
        wait.waitBudgetMs - elapsed,
        Math.max(0, lastHeartbeat + wait.heartbeatIntervalMs - now()),
      ),
    );
  }
}
