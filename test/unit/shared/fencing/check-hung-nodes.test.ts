import { describe, expect, it } from 'vitest';
import { fencedAtTag } from '#functions/shared/contract/fence-tag.ts';
import {
  checkHungNodes,
  type FenceCheckSettings,
} from '#functions/shared/fencing/check-hung-nodes.ts';
import type { InstanceFacts, NodeFacts } from '#functions/shared/remediation/facts.ts';
import { fakeEc2 } from '#support/fakes/fake-ec2.ts';
import { fakeFence } from '#support/fakes/fake-fence.ts';
import { fakeKubernetes } from '#support/fakes/fake-kubernetes.ts';
import { CallLog } from '#support/fakes/recorder.ts';
import { unitTestSettings } from '#support/fakes/settings.ts';

const minutes = (n: number) => n * 60_000;

const settings: FenceCheckSettings = {
  ...unitTestSettings,
  fenceAfterMs: minutes(5),
  fenceAction: 'stop',
  maxFences: 1,
  fenceWindowMs: minutes(10),
};

interface TestNode {
  readonly name: string;
  readonly instance: InstanceFacts;
  /** Minutes since its kubelet last renewed its Lease; undefined for a live one. */
  readonly silentMinutes?: number;
  readonly more?: Partial<NodeFacts>;
}

function testNode(name: string, silentMinutes?: number, more?: Partial<NodeFacts>): TestNode {
  const instanceId = `i-0${name.padStart(16, '0')}`;
  return {
    name,
    instance: {
      instanceId,
      state: 'running',
      privateDnsName: name,
      tags: { 'kubernetes.io/cluster/prod': 'owned' },
    },
    ...(silentMinutes === undefined ? {} : { silentMinutes }),
    ...(more ? { more } : {}),
  };
}

/** A cluster of these nodes: a silent one NotReady with its Lease that old, the others Ready and renewing. */
function cluster(...nodes: TestNode[]) {
  const log = new CallLog();
  const now = Date.now();
  const ec2 = fakeEc2({ instances: nodes.map((n) => n.instance), log });
  const kube = fakeKubernetes({
    log,
    nodes: nodes.map((n) => ({
      name: n.name,
      uid: `uid-${n.name}`,
      providerId: `aws:///us-east-1a/${n.instance.instanceId}`,
      taints: [],
      ready: n.silentMinutes === undefined,
      ...(n.silentMinutes === undefined
        ? {}
        : { notReadySince: now - minutes(n.silentMinutes) + 50_000 }),
      ...n.more,
    })),
  });
  for (const n of nodes) {
    kube.leases.set(n.name, now - minutes(n.silentMinutes ?? 0.1));
  }
  const fence = fakeFence(ec2);
  return { log, ec2, kube, fence, deps: { ec2, kube, fence, sleep: async () => undefined } };
}

const live = ['a', 'b', 'c'].map((name) => testNode(name));

describe('the fence check on a quiet minute', () => {
  it('lists the Nodes and nothing else when none is NotReady', async () => {
    const world = cluster(...live);

    const check = await checkHungNodes(world.deps, settings);

    expect(check).toEqual({ nodesExamined: 3, notReady: 0, reports: [] });
    expect(world.log.apiCalls).toEqual(['kube list nodes']);
  });

  it('lists the Leases once, not one read per Node, when a Node is NotReady', async () => {
    const world = cluster(...live, testNode('d', 2));

    await checkHungNodes(world.deps, settings);

    expect(world.log.apiCalls).toEqual(['kube list nodes', 'kube list leases']);
  });

  it('leaves a node NotReady for less than the fence time alone, and says nothing of it', async () => {
    const world = cluster(...live, testNode('d', 2));

    const check = await checkHungNodes(world.deps, settings);

    expect(check.reports).toEqual([]);
    expect(world.log.count('fence')).toBe(0);
  });
});

describe('a hung node (NotReady, its Lease stale for the fence time, EC2 says running)', () => {
  it('is tagged, stopped by force, and then recovered as a stopped node', async () => {
    const hung = testNode('d', 6);
    const world = cluster(...live, hung);

    const check = await checkHungNodes(world.deps, settings);

    const [report] = check.reports;
    expect(report).toMatchObject({
      instanceId: hung.instance.instanceId,
      nodeName: 'd',
      outcome: 'fenced',
      fenceAction: 'stop',
      evidence: {
        instanceState: 'running',
        statusChecks: { system: 'ok', instance: 'ok' },
        leaseRenewedAt: expect.any(String),
        notReadySince: expect.any(String),
      },
      actions: [{ action: 'fence-instance', outcome: 'done' }],
      recovery: { outcome: 'remediated', state: 'stopped' },
    });
    const order = world.log.apiCalls;
    expect(order.indexOf('ec2 CreateTags')).toBeLessThan(
      order.indexOf('ec2 StopInstances or TerminateInstances'),
    );
    expect(world.log.calls.find((c) => c.method === 'fence')?.args).toEqual([
      hung.instance.instanceId,
      'stop',
    ]);
    expect(world.ec2.instance(hung.instance.instanceId).tags[fencedAtTag]).toBeDefined();
    expect(world.kube.nodes.find((n) => n.name === 'd')?.taints).toContainEqual(
      expect.objectContaining({ key: 'node.kubernetes.io/out-of-service' }),
    );
  });

  it('is terminated instead when FENCE_ACTION is terminate', async () => {
    const world = cluster(...live, testNode('d', 6));

    const check = await checkHungNodes(world.deps, { ...settings, fenceAction: 'terminate' });

    expect(check.reports[0]).toMatchObject({
      outcome: 'fenced',
      recovery: { state: 'terminated' },
    });
  });

  it('is only reported in a dry-run: nothing tagged, nothing stopped', async () => {
    const world = cluster(...live, testNode('d', 6));

    const check = await checkHungNodes(world.deps, { ...settings, dryRun: true });

    expect(check.reports[0]).toMatchObject({
      outcome: 'dry-run',
      actions: [
        {
          action: 'fence-instance',
          outcome: 'planned',
          detail: expect.stringContaining('would fence'),
        },
      ],
    });
    expect(world.log.count('markFenced') + world.log.count('fence')).toBe(0);
  });
});

describe('never fencing what may be fine', () => {
  it('fences nothing when half the Nodes go NotReady at once (a partition)', async () => {
    const world = cluster(testNode('a'), testNode('b', 6), testNode('c', 6), testNode('d', 6));

    const check = await checkHungNodes(world.deps, settings);

    expect(check.reports.map((r) => [r.outcome, r.refusedBy])).toEqual([
      ['refused', 'partition'],
      ['refused', 'partition'],
      ['refused', 'partition'],
    ]);
    expect(world.log.count('fence')).toBe(0);
  });

  it('counts kubelets gone silent that are not NotReady yet: a partition reaches its Nodes over seconds', async () => {
    const world = cluster(
      testNode('a'),
      testNode('b', 0.5, { ready: true, notReadySince: undefined }),
      testNode('c', 6),
    );

    const check = await checkHungNodes(world.deps, settings);

    expect(check.reports[0]).toMatchObject({
      outcome: 'refused',
      refusedBy: 'partition',
      reason: expect.stringContaining('2 of 3 Nodes are NotReady or silent at once'),
    });
    expect(world.log.count('fence')).toBe(0);
  });

  it('stops at a Lease renewed at the last moment', async () => {
    const world = cluster(...live, testNode('d', 6));
    // The kubelet comes back between the check's read and the fence's re-read.
    world.log.listen((call) => {
      if (call.method === 'statusChecks') world.kube.leases.set('d', Date.now());
    });

    const check = await checkHungNodes(world.deps, settings);

    expect(check.reports[0]).toMatchObject({ outcome: 'refused', refusedBy: 'lease-renewed' });
    expect(world.log.count('markFenced') + world.log.count('fence')).toBe(0);
  });

  it('stops when EC2 no longer says running right before the fence', async () => {
    const hung = testNode('d', 6);
    const world = cluster(...live, hung);
    world.ec2.answerStates(hung.instance.instanceId, 'running', 'stopping');

    const check = await checkHungNodes(world.deps, settings);

    expect(check.reports[0]).toMatchObject({
      outcome: 'not-hung',
      reason: expect.stringContaining('EC2 now reports the instance stopping'),
    });
    expect(world.log.count('fence')).toBe(0);
  });

  it('keeps to the rate limit, read from the fence tag of an instance fenced minutes ago', async () => {
    const earlier = testNode('e');
    const fencedBefore: InstanceFacts = {
      ...earlier.instance,
      state: 'stopped',
      tags: {
        ...earlier.instance.tags,
        [fencedAtTag]: new Date(Date.now() - minutes(3)).toISOString(),
      },
    };
    const world = cluster(...live, testNode('d', 6));
    world.ec2.instances.set(fencedBefore.instanceId, fencedBefore);

    const check = await checkHungNodes(world.deps, settings);

    expect(check.reports[0]).toMatchObject({ outcome: 'refused', refusedBy: 'rate-limit' });
    expect(world.log.count('fence')).toBe(0);
  });

  it('does not count a fence older than the window, nor another cluster’s', async () => {
    const old = testNode('e');
    const stranger = testNode('f');
    const world = cluster(...live, testNode('d', 6));
    world.ec2.instances.set(old.instance.instanceId, {
      ...old.instance,
      tags: {
        ...old.instance.tags,
        [fencedAtTag]: new Date(Date.now() - minutes(11)).toISOString(),
      },
    });
    world.ec2.instances.set(stranger.instance.instanceId, {
      ...stranger.instance,
      tags: { 'kubernetes.io/cluster/other': 'owned', [fencedAtTag]: new Date().toISOString() },
    });

    const check = await checkHungNodes(world.deps, settings);

    expect(check.reports[0]?.outcome).toBe('fenced');
  });

  it('never fences a Node annotated ebs-volume-remediator/fence: "false"', async () => {
    const world = cluster(...live, testNode('d', 6, { fenceOptOut: true }));

    const check = await checkHungNodes(world.deps, settings);

    expect(check.reports[0]).toMatchObject({ outcome: 'refused', refusedBy: 'opted-out' });
    expect(world.log.count('fence')).toBe(0);
  });
});

describe('an alarm that names an instance (EC2 status check failed)', () => {
  it('fences at once when the Node agrees: NotReady, its Lease expired', async () => {
    const hung = testNode('d', 1);
    const world = cluster(...live, hung);

    const check = await checkHungNodes(world.deps, settings, {
      instanceIds: [hung.instance.instanceId],
    });

    expect(check.reports[0]).toMatchObject({ outcome: 'fenced' });
  });

  it('fences nothing when the Node still reports Ready', async () => {
    const [first] = live;
    const world = cluster(...live);

    const check = await checkHungNodes(world.deps, settings, {
      instanceIds: [first?.instance.instanceId ?? ''],
    });

    expect(check.reports[0]).toMatchObject({
      outcome: 'not-hung',
      reason: expect.stringContaining('reports Ready'),
    });
    expect(world.log.count('fence')).toBe(0);
  });
});
