// A node that dies while EC2 says running (its kubelet hangs), on the real control plane with
// EC2 as it behaves, fencing on: the fence function stops the instance once its Node has been
// NotReady with a stale Lease for FENCE_AFTER_SECONDS, then recovers it as a stopped node; the
// replacement pod runs elsewhere with its volume. And the rule that matters most when many Nodes
// go NotReady at once: a partition is not a node, and nothing is fenced.
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, it } from 'vitest';
import { fencedAtTag } from '#functions/shared/contract/fence-tag.ts';
import type { FenceReport } from '#functions/shared/contract/result-events.ts';
import type { InvocationResult } from '#functions/shared/handle-input.ts';
import { ec2Timings } from '#support/ec2-as-it-behaves/timings.ts';
import { controlPlaneEc2Log, controlPlaneEndpoints } from '#support/environment.ts';
import {
  type FunctionUnderTest,
  fenceOnControlPlane,
  nodeLossOnControlPlane,
} from '#support/functions-under-test.ts';
import { beforeDeath, watchRecovery } from '#support/recovery.ts';
import { ec2StateChangeEvent, eventSample } from '#support/samples.ts';
import { StatefulCluster, sleep } from '#support/stateful-cluster.ts';

const clusters: StatefulCluster[] = [];
afterAll(async () => {
  await Promise.all(clusters.map((c) => c.dispose().catch(() => undefined)));
});

/** The shortest fence time the settings allow: a kubelet's Lease lasts 40 s. */
const fenceAfterSeconds = 60;
/** How often the test runs the check; the deployed schedule runs it every minute. */
const checkEveryMs = 2_000;

function scheduledTick(): Record<string, unknown> {
  return {
    ...eventSample('scheduled-event.json'),
    id: crypto.randomUUID(),
    time: new Date().toISOString(),
  };
}

function fenceReports(result: InvocationResult): readonly FenceReport[] {
  return result.status === 'fence-check' ? result.check.reports : [];
}

/** Runs the fence check on its schedule until one reports on a hung node, or the time is up. */
async function checkUntilReported(
  fence: FunctionUnderTest,
  timeoutMs: number,
): Promise<{ reports: readonly FenceReport[]; checks: number }> {
  const until = Date.now() + timeoutMs;
  let checks = 0;
  while (Date.now() < until) {
    const reports = fenceReports(await fence.invoke(scheduledTick()));
    checks += 1;
    if (reports.length > 0) return { reports, checks };
    await sleep(checkEveryMs);
  }
  return { reports: [], checks };
}

describe.concurrent('hung nodes on a real control plane, fencing on', { timeout: 480_000 }, () => {
  it('fences a node whose kubelet hangs while EC2 says running, and brings its pod back Running elsewhere within FENCE_AFTER_SECONDS + the stop time + 10 s', async () => {
    const cluster = await StatefulCluster.start('hung', controlPlaneEndpoints(), {
      replicas: 2,
      cloudNodeLifecycle: true,
    });
    clusters.push(cluster);
    const [replica, other] = cluster.replicas;
    if (!replica || !other) throw new Error('the StatefulSet has fewer than 2 replicas');
    const before = await beforeDeath(cluster, replica);
    const otherNode = await cluster.nodeOf(other);
    // The recovery's share-of-dead-Nodes breaker counts every Node of the shared apiserver, where
    // other tests' dead Nodes stay NotReady: lifted, as for node-loss here (tested on its own).
    const fence = fenceOnControlPlane(cluster, {
      FENCE_AFTER_SECONDS: String(fenceAfterSeconds),
      MAX_DEAD_NODE_PERCENT: '100',
    });

    const hungAt = Date.now();
    await cluster.hangKubelet(before.deadNode);
    const { reports, checks } = await checkUntilReported(fence, 240_000);
    const timeline = await watchRecovery({ ...before, diedAt: hungAt }, controlPlaneEc2Log(), {
      timeoutMs: 300_000,
      settleMs: 65_000,
    });

    // The checks before it found nothing to do: a NotReady Node is not hung until its Lease is
    // stale for the fence time.
    expect(checks).toBeGreaterThan(1);
    expect(reports).toHaveLength(1);
    const [report] = reports;
    expect(report).toMatchObject({
      instanceId: before.deadNode.instanceId,
      nodeName: before.deadNode.nodeName,
      outcome: 'fenced',
      fenceAction: 'stop',
      evidence: { instanceState: 'running', notReadySince: expect.any(String) },
      actions: [{ action: 'fence-instance', outcome: 'done' }],
      recovery: { outcome: 'remediated', state: 'stopped' },
    });
    // The evidence is the hung kubelet's: its last renewal came before the hang (every 10 s).
    const leaseAt = Date.parse(report?.evidence.leaseRenewedAt ?? '');
    expect(hungAt - leaseAt).toBeLessThan(11_000);
    // The outcome: the replacement Running with its volume on a live node, no fight after it.
    expect(timeline).toMatchObject({
      recovered: true,
      volumeAttachmentsRecreated: 0,
      reattachmentsToDeadInstance: 0,
      replacementsDeleted: 0,
    });
    const stopSeconds = ec2Timings.stoppingMs / 1000;
    expect(timeline.replacementRunning).toBeLessThan(
      fenceAfterSeconds + stopSeconds + 10 + checkEveryMs / 1000,
    );
    expect(timeline.replacementNode).not.toBe(before.deadNode.nodeName);
    expect((await cluster.nodeOf(other)).nodeName).toBe(otherNode.nodeName);
    expect(await cluster.isRunningWithVolume(other)).toBe(true);
    // EC2 keeps the stopped instance for a post-mortem, with the tag that says who stopped it.
    const described = await cluster.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: [before.deadNode.instanceId] }),
    );
    const instance = described.Reservations?.[0]?.Instances?.[0];
    expect(instance?.State?.Name).toBe('stopped');
    expect(instance?.Tags?.map((t) => t.Key)).toContain(fencedAtTag);
    // The stop's own EC2 event, when EventBridge delivers it, finds the work done.
    const late = await nodeLossOnControlPlane(cluster.name).invoke(
      ec2StateChangeEvent(before.deadNode.instanceId, 'stopped'),
    );
    expect(late.status === 'done' ? late.instances.map((i) => i.outcome) : late.status).toEqual([
      'nothing-to-do',
    ]);
  });

  it('fences nothing when more than half the Nodes go NotReady at once (a partition, not a node), and says why', async () => {
    const cluster = await StatefulCluster.start('partition', controlPlaneEndpoints(), {
      replicas: 2,
      cloudNodeLifecycle: true,
    });
    clusters.push(cluster);
    const fence = fenceOnControlPlane(cluster, { FENCE_AFTER_SECONDS: '40' });
    const [first, second] = cluster.replicas;
    if (!first || !second) throw new Error('the StatefulSet has fewer than 2 replicas');
    const cutOff = [await cluster.nodeOf(first), await cluster.nodeOf(second)];
    const pods = await Promise.all([cluster.pod(first), cluster.pod(second)]);

    await Promise.all(cutOff.map((node) => cluster.hangKubelet(node)));
    // The cut-off Nodes turn hung seconds apart (their last renewals were up to 10 s apart): the
    // schedule runs on for a minute after the first report, through the time both are hung.
    const { reports: firstReports } = await checkUntilReported(fence, 240_000);
    const reports = [...firstReports];
    for (const until = Date.now() + 60_000; Date.now() < until; await sleep(checkEveryMs)) {
      reports.push(...fenceReports(await fence.invoke(scheduledTick())));
    }

    expect(reports.length).toBeGreaterThan(0);
    for (const report of reports) {
      expect(report).toMatchObject({
        outcome: 'refused',
        refusedBy: 'partition',
        reason: expect.stringContaining('2 of 3 Nodes are NotReady or silent at once'),
      });
    }
    expect(new Set(reports.map((r) => r.instanceId))).toEqual(
      new Set(cutOff.map((n) => n.instanceId)),
    );
    // Nothing was touched: the instances run, the pods are the same objects.
    const described = await cluster.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: cutOff.map((n) => n.instanceId) }),
    );
    const states = (described.Reservations ?? [])
      .flatMap((r) => r.Instances ?? [])
      .map((i) => i.State?.Name);
    expect(states).toEqual(['running', 'running']);
    const after = await Promise.all([cluster.pod(first), cluster.pod(second)]);
    expect(after.map((p) => p?.metadata?.uid)).toEqual(pods.map((p) => p?.metadata?.uid));
  });
});
