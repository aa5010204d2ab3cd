import type { EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvocationResult } from '#functions/shared/handle-input.ts';
import type { SweepReport } from '#functions/shared/remediation/sweep.ts';
import { ec2Client, endpoints } from '#support/environment.ts';
import { TestCluster, type TestNode, type TestVolume } from '#support/fixtures.ts';
import {
  ec2StateChangeEvent,
  nodeLossFunction,
  sweepFunction,
} from '#support/functions-under-test.ts';
import { resultEventInbox } from '#support/result-events.ts';
import { eventSample } from '#support/samples.ts';

interface BuiltNode {
  readonly node: TestNode;
  readonly volumes: readonly TestVolume[];
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>) {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += limit) {
    results.push(...(await Promise.all(items.slice(i, i + limit).map(work))));
  }
  return results;
}

async function buildNodes(
  cluster: TestCluster,
  count: number,
  volumesEach: number,
  phantom = false,
) {
  return inParallel(Array.from({ length: count }), 6, async (): Promise<BuiltNode> => {
    const node = phantom ? await cluster.addPhantomNode() : await cluster.addNode();
    const volumes: TestVolume[] = [];
    for (let v = 0; v < volumesEach; v++) {
      volumes.push(await cluster.addVolume(node, { provisioner: v % 2 === 0 ? 'csi' : 'in-tree' }));
    }
    return { node, volumes };
  });
}

function sweepOf(result: InvocationResult): SweepReport {
  if (result.status !== 'swept') throw new Error(`expected a sweep, got ${JSON.stringify(result)}`);
  return result.sweep;
}

/**
 * "action target" for every action of a sweep, to compare a dry run with the real one. Removing
 * a finalizer is left out: whether it is needed depends on whether an attacher answers after
 * the delete, which a dry run cannot know.
 */
function actionsOf(report: SweepReport, outcome: 'planned' | 'done'): string[] {
  return report.instances
    .flatMap((i) => i.actions)
    .filter((a) => a.outcome === outcome && a.action !== 'remove-finalizer')
    .map((a) => `${a.action} ${a.volumeAttachment ?? a.volumeId ?? a.node}`)
    .sort();
}

/** An EC2 client that counts the calls it sends, by operation. */
function countingEc2Client(): { client: EC2Client; calls: Map<string, number> } {
  const client = ec2Client();
  const calls = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = String(context.commandName).replace(/Command$/, '');
      calls.set(operation, (calls.get(operation) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'countCalls' },
  );
  return { client, calls };
}

describe('sweep of a 60-node cluster with 12 dead nodes', () => {
  const cluster = TestCluster.create('sweep', endpoints());
  let healthy: BuiltNode[];
  let terminated: BuiltNode[];
  let stopped: BuiltNode[];
  let forgotten: BuiltNode[];

  beforeAll(async () => {
    [healthy, terminated, stopped, forgotten] = await Promise.all([
      buildNodes(cluster, 48, 2),
      buildNodes(cluster, 4, 2),
      buildNodes(cluster, 4, 2),
      buildNodes(cluster, 4, 2, true),
    ]);
    await Promise.all([
      ...terminated.map(({ node }) => cluster.terminateInstance(node)),
      ...stopped.map(({ node }) => cluster.stopInstance(node)),
    ]);
  }, 300_000);
  afterAll(() => cluster.dispose());

  it('plans in dry-run exactly what the real run then does, and cleans every stale attachment only', async () => {
    const before = new Set(await cluster.volumeAttachmentNames());
    const dead = [...terminated, ...stopped, ...forgotten];
    const counting = countingEc2Client();

    const dryRun = sweepOf(
      await sweepFunction(cluster, { DRY_RUN: 'true' }).invoke({ action: 'sweep' }),
    );
    expect(new Set(await cluster.volumeAttachmentNames())).toEqual(before);

    const real = sweepOf(
      await sweepFunction(cluster, {}, counting.client).invoke({ action: 'sweep' }),
    );

    expect(actionsOf(dryRun, 'planned')).toEqual(actionsOf(real, 'done'));
    expect(real).toMatchObject({
      complete: true,
      staleInstances: 12,
      // Those stopped and terminated a moment ago are node-loss's to free, no missed event; the
      // instances EC2 has forgotten died long ago (it keeps a terminated one for about an hour).
      eventsMissed: forgotten.length,
      staleAttachments: 24,
      summary: { attachmentsDeleted: 24, volumesDetached: 8, failures: 0, refusals: 0 },
    });
    expect(real).toMatchObject({ nodesExamined: 60, attachmentsExamined: 120 });
    const after = new Set(await cluster.volumeAttachmentNames());
    for (const { volumes } of dead) {
      for (const volume of volumes) expect(after.has(volume.volumeAttachmentName)).toBe(false);
    }
    for (const { node, volumes } of healthy) {
      for (const volume of volumes) {
        expect(after.has(volume.volumeAttachmentName)).toBe(true);
        expect((await cluster.volume(volume.volumeId)).attachedTo).toEqual([node.instanceId]);
      }
    }
    for (const { volumes } of stopped) {
      for (const volume of volumes)
        expect((await cluster.volume(volume.volumeId)).state).toBe('available');
    }

    // EC2 is asked about instances by id in batches, never one call per node. First the states
    // of all 60 nodes' instances (DescribeInstanceStatus): its answer names every unknown id,
    // which are then asked without. Then in full (DescribeInstances) for the whole sweep's plan
    // (the circuit breaker decides before the first action) and for its one batch of dead ones,
    // where moto names one unknown id per answer (EC2 all of them); and again before a taint
    // only where the batch's reading is more than a second old by then (a busy machine).
    expect(counting.calls.get('DescribeInstanceStatus')).toBe(2);
    const rounds = 2 * (1 + forgotten.length);
    expect(counting.calls.get('DescribeInstances')).toBeGreaterThanOrEqual(rounds);
    expect(counting.calls.get('DescribeInstances')).toBeLessThanOrEqual(rounds + dead.length);
    // The other calls (release checks, detaches) are a few per dead instance: none is spent on
    // the 48 healthy nodes.
    const total = [...counting.calls.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeLessThan(8 * dead.length);
  });
});

describe('sweep safety', () => {
  const cluster = TestCluster.create('sweep-safety', endpoints());
  afterAll(() => cluster.dispose());

  it('refuses the whole sweep, dry-run alike, when more than MAX_DEAD_NODE_PERCENT of its Nodes look dead', async () => {
    const built = await buildNodes(cluster, 3, 1);
    for (const { node } of built) await cluster.setNodeReady(node, true);
    const [first, second] = built;
    if (!first || !second) throw new Error('nodes missing');
    await Promise.all([cluster.stopInstance(first.node), cluster.stopInstance(second.node)]);
    await cluster.setNodeReady(first.node, false);
    const before = await cluster.volumeAttachmentNames();
    const settings = { MAX_DEAD_NODE_PERCENT: '50' };

    const dryRun = sweepOf(
      await sweepFunction(cluster, { ...settings, DRY_RUN: 'true' }).invoke({ action: 'sweep' }),
    );
    const real = sweepOf(await sweepFunction(cluster, settings).invoke({ action: 'sweep' }));

    for (const report of [dryRun, real]) {
      expect(report.instances.map((i) => i.outcome)).toEqual(['refused', 'refused']);
      expect(report.instances[0]?.reason).toContain("67% of the cluster's 3 Nodes look dead");
    }
    expect(await cluster.volumeAttachmentNames()).toEqual(before);
    expect((await cluster.volume(first.volumes[0]?.volumeId ?? '')).attachedTo).toEqual([
      first.node.instanceId,
    ]);
    // Where `kubectl describe node` shows why: one Warning, the real sweep's (a dry-run writes none).
    const refusals = await cluster.core.listEventForAllNamespaces({
      fieldSelector: `involvedObject.kind=Node,involvedObject.name=${first.node.nodeName},reason=RemediationRefused`,
    });
    expect(refusals.items.map((e) => [e.type, e.message])).toEqual([
      ['Warning', expect.stringContaining("67% of the cluster's 3 Nodes look dead")],
    ]);
  });

  it('lifts our out-of-service taint from a Node whose instance runs again when the running event was missed', async () => {
    const [{ node } = { node: undefined }] = await buildNodes(cluster, 1, 1);
    if (!node) throw new Error('node missing');
    await cluster.stopInstance(node);
    await nodeLossFunction(cluster).invoke(ec2StateChangeEvent(node.instanceId, 'stopped'));
    expect(await cluster.taintsOf(node)).toContainEqual(
      expect.objectContaining({ key: 'node.kubernetes.io/out-of-service' }),
    );
    await cluster.startInstance(node);

    const report = sweepOf(await sweepFunction(cluster).invoke({ action: 'sweep' }));

    expect(await cluster.taintsOf(node)).not.toContainEqual(
      expect.objectContaining({ key: 'node.kubernetes.io/out-of-service' }),
    );
    expect(report.instances).toContainEqual(
      expect.objectContaining({
        instanceId: node.instanceId,
        actions: [expect.objectContaining({ action: 'lift-taint', outcome: 'done' })],
      }),
    );
  });
});

describe('sweep under a time budget', () => {
  const cluster = TestCluster.create('sweep-budget', endpoints());
  afterAll(() => cluster.dispose());

  it('stops between batches, leaves nothing half done, and the next run finishes', async () => {
    const dead = await buildNodes(cluster, 6, 2);
    await Promise.all(dead.map(({ node }) => cluster.stopInstance(node)));
    // A clock that moves one tick per reading: two batches fit before the deadline.
    let tick = 0;
    const clock = () => tick++;

    const first = sweepOf(
      await sweepFunction(cluster).invoke(
        { action: 'sweep' },
        { sweepBatchSize: 2, sweepDeadline: 3, clock },
      ),
    );

    expect(first.complete).toBe(false);
    expect(first.instances).toHaveLength(4);
    expect(first.deferred).toHaveLength(2);
    const names = new Set(await cluster.volumeAttachmentNames());
    for (const { node, volumes } of dead) {
      const states = await Promise.all(volumes.map((v) => cluster.volume(v.volumeId)));
      const remediated = first.instances.some((i) => i.instanceId === node.instanceId);
      for (const [index, volume] of volumes.entries()) {
        // Either all of a node is done, or none of it.
        expect(names.has(volume.volumeAttachmentName)).toBe(!remediated);
        expect(states[index]?.attachedTo).toEqual(remediated ? [] : [node.instanceId]);
      }
    }
    expect(new Set(first.deferred)).toEqual(
      new Set(
        dead
          .map(({ node }) => node.instanceId)
          .filter((id) => !first.instances.some((i) => i.instanceId === id)),
      ),
    );

    const second = sweepOf(await sweepFunction(cluster).invoke({ action: 'sweep' }));

    expect(second).toMatchObject({ complete: true, staleInstances: 2, deferred: [] });
    const left = new Set(await cluster.volumeAttachmentNames());
    for (const { volumes } of dead)
      for (const v of volumes) expect(left.has(v.volumeAttachmentName)).toBe(false);
  });
});

describe('CloudWatch alarms as a trigger of the sweep function', () => {
  const cluster = TestCluster.create('alarms', endpoints());
  afterAll(() => cluster.dispose());

  it('remediates the instance named by the InstanceId dimension of an alarm in ALARM', async () => {
    const [target, other] = await buildNodes(cluster, 2, 1);
    if (!target || !other) throw new Error('fixtures');
    await cluster.stopInstance(target.node);
    await cluster.stopInstance(other.node);
    const event = eventSample('cloudwatch-alarm-state-change.json');
    const detail = JSON.parse(
      JSON.stringify(event.detail).replaceAll('i-1234567890abcdef0', target.node.instanceId),
    );

    const result = await sweepFunction(cluster).invoke({
      ...event,
      time: new Date().toISOString(),
      detail,
    });

    expect(result).toMatchObject({
      status: 'done',
      kind: 'cloudwatch-alarm',
      instances: [{ outcome: 'remediated' }],
    });
    const names = await cluster.volumeAttachmentNames();
    expect(names).not.toContain(target.volumes[0]?.volumeAttachmentName);
    // Only the named instance: the other dead node waits for a sweep.
    expect(names).toContain(other.volumes[0]?.volumeAttachmentName);
  });

  it('sweeps on an alarm in ALARM that names no instance', async () => {
    const [dead] = await buildNodes(cluster, 1, 1);
    if (!dead) throw new Error('fixtures');
    await cluster.terminateInstance(dead.node);

    const result = await sweepFunction(cluster).invoke(
      eventSample('cloudwatch-alarm-lambda-action.json'),
    );

    expect(result).toMatchObject({
      status: 'swept',
      kind: 'cloudwatch-alarm',
      sweep: { complete: true },
    });
    expect(await cluster.volumeAttachmentNames()).not.toContain(
      dead.volumes[0]?.volumeAttachmentName,
    );
  });

  it('reports a sweep as one result event, with its instances summarised', async () => {
    const inbox = await resultEventInbox();
    const [dead] = await buildNodes(cluster, 1, 2);
    if (!dead) throw new Error('fixtures');
    await cluster.stopInstance(dead.node);

    await sweepFunction(cluster, { RESULT_EVENT_BUS: inbox.busName }).invoke({ action: 'sweep' });

    const delivered = await inbox.receive();
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({
      source: 'ebs-volume-remediator',
      'detail-type': 'EBS Volume Sweep Result',
      detail: {
        clusterName: cluster.name,
        complete: true,
        staleInstances: 1,
        instances: [{ instanceId: dead.node.instanceId, outcome: 'remediated', failedActions: 0 }],
        instancesLeftOut: 0,
      },
    });
  });

  it('never touches a running instance an alarm names', async () => {
    const [running] = await buildNodes(cluster, 1, 1);
    if (!running) throw new Error('fixtures');
    const event = eventSample('cloudwatch-alarm-state-change.json');
    const detail = JSON.parse(
      JSON.stringify(event.detail).replaceAll('i-1234567890abcdef0', running.node.instanceId),
    );

    const result = await sweepFunction(cluster).invoke({ ...event, detail });

    expect(result).toMatchObject({
      status: 'done',
      instances: [{ outcome: 'refused', state: 'running' }],
    });
    expect((await cluster.volume(running.volumes[0]?.volumeId ?? '')).attachedTo).toEqual([
      running.node.instanceId,
    ]);
  });
});
