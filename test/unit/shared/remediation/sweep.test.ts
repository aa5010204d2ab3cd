import { describe, expect, it } from 'vitest';
import type {
  AttachmentFacts,
  InstanceFacts,
  NodeFacts,
  VolumeFacts,
} from '#functions/shared/remediation/facts.ts';
import { missedByEvents, sweepCluster } from '#functions/shared/remediation/sweep.ts';
import { fakeEc2 } from '#support/fakes/fake-ec2.ts';
import { fakeKubernetes } from '#support/fakes/fake-kubernetes.ts';
import { unitTestSettings } from '#support/fakes/settings.ts';

/**
 * An in-memory cluster: stopped instances, each with `volumesEach` volumes still attached and
 * their VolumeAttachments. Enough of EC2 and Kubernetes for the sweep's own logic.
 */
function stoppedCluster(instanceCount: number, volumesEach: number) {
  const instances = new Map<string, InstanceFacts>();
  const nodes: NodeFacts[] = [];
  const attachments: AttachmentFacts[] = [];
  const volumes = new Map<string, VolumeFacts>();
  for (let i = 0; i < instanceCount; i++) {
    const instanceId = `i-${String(i).padStart(17, '0')}`;
    const name = `node-${i}`;
    instances.set(instanceId, {
      instanceId,
      state: 'stopped',
      tags: { 'kubernetes.io/cluster/prod': 'owned' },
    });
    nodes.push({ name, providerId: `aws:///us-east-1a/${instanceId}`, taints: [] });
    for (let v = 0; v < volumesEach; v++) {
      const volumeId = `vol-${String(i * 100 + v).padStart(17, '0')}`;
      volumes.set(volumeId, {
        volumeId,
        tags: {},
        attachments: [{ instanceId, device: `/dev/xvdb${v}`, state: 'attached' }],
      });
      attachments.push({
        name: `va-${volumeId}`,
        attacher: 'ebs.csi.aws.com',
        nodeName: name,
        persistentVolumeName: `pv-${volumeId}`,
        deleting: false,
        finalizers: [],
      });
    }
  }
  const ec2 = fakeEc2({ instances: [...instances.values()], volumes: [...volumes.values()] });
  const kube = fakeKubernetes({ nodes, attachments });
  for (const attachment of attachments) {
    const name = attachment.persistentVolumeName ?? '';
    kube.persistentVolumes.set(name, { name, volumeReference: name.replace(/^pv-/, '') });
  }
  const detached: string[] = [];
  const untainted: string[] = [];
  ec2.log.listen(({ method, args }) => {
    if (method === 'detachVolume') detached.push(String(args[0]));
  });
  kube.log.listen(({ method, args }) => {
    if (method === 'removeNodeTaint') untainted.push(String(args[0]));
  });
  return { ec2, kube, detached, untainted, instances: ec2.instances, nodes: kube.nodes };
}

/**
 * The instance of node `index` runs again, and its Node still carries an out-of-service taint
 * with this value (ours is `ebs-volume-remediator`).
 */
function runningAgainWithTaint(
  world: ReturnType<typeof stoppedCluster>,
  index: number,
  taintValue: string,
): void {
  const instanceId = `i-${String(index).padStart(17, '0')}`;
  world.instances.set(instanceId, {
    instanceId,
    state: 'running',
    tags: { 'kubernetes.io/cluster/prod': 'owned' },
  });
  world.nodes[index] = {
    ...(world.nodes[index] as NodeFacts),
    taints: [{ key: 'node.kubernetes.io/out-of-service', value: taintValue, effect: 'NoExecute' }],
  };
}

const settings = { ...unitTestSettings, outOfServiceTaint: false, maxDeadNodePercent: 100 };

describe('sweepCluster', () => {
  it('refuses the whole sweep before its first action when it would take more destructive actions than allowed', async () => {
    // 3 instances with 2 volumes each: 6 detaches and 6 VolumeAttachment deletions.
    const world = stoppedCluster(3, 2);

    const report = await sweepCluster(
      { ec2: world.ec2, kube: world.kube },
      { ...settings, maxActionsPerInvocation: 11 },
      { batchSize: 1 },
    );

    expect(world.detached).toEqual([]);
    expect(report.instances.map((i) => i.outcome)).toEqual(['refused', 'refused', 'refused']);
    expect(report.instances[0]?.reason).toContain('12 destructive actions');
    expect(report.summary).toMatchObject({ volumesDetached: 0, refusals: 3 });
  });

  it('acts when the whole sweep stays within the allowance', async () => {
    const world = stoppedCluster(3, 2);

    const report = await sweepCluster(
      { ec2: world.ec2, kube: world.kube },
      { ...settings, maxActionsPerInvocation: 12 },
      { batchSize: 1 },
    );

    expect(world.detached).toHaveLength(6);
    expect(report.summary).toMatchObject({ volumesDetached: 6, refusals: 0 });
  });

  it('refuses when more of the Nodes look dead than MAX_DEAD_NODE_PERCENT allows', async () => {
    const world = stoppedCluster(3, 1);
    world.nodes.push(
      {
        name: 'live-1',
        providerId: 'aws:///us-east-1a/i-0aaaaaaaaaaaaaaa1',
        taints: [],
        ready: true,
      },
      {
        name: 'live-2',
        providerId: 'aws:///us-east-1a/i-0aaaaaaaaaaaaaaa2',
        taints: [],
        ready: true,
      },
    );

    const report = await sweepCluster(
      { ec2: world.ec2, kube: world.kube },
      { ...settings, maxDeadNodePercent: 50 },
    );

    expect(world.detached).toEqual([]);
    expect(report.instances[0]?.reason).toContain('60% of the cluster');
  });

  it("lifts our out-of-service taint from a Node whose instance runs again, never another's", async () => {
    const world = stoppedCluster(2, 0);
    runningAgainWithTaint(world, 0, 'ebs-volume-remediator');
    runningAgainWithTaint(world, 1, 'nodeshutdown');

    const report = await sweepCluster({ ec2: world.ec2, kube: world.kube }, settings);

    expect(world.untainted).toEqual(['node-0']);
    expect(report.instances).toEqual([
      expect.objectContaining({ instanceId: 'i-00000000000000000', outcome: 'remediated' }),
    ]);
  });

  it('stops before a batch once its deadline has passed, and lists what it deferred', async () => {
    const world = stoppedCluster(4, 1);
    let tick = 0;

    const report = await sweepCluster({ ec2: world.ec2, kube: world.kube }, settings, {
      batchSize: 2,
      deadline: 2,
      now: () => tick++,
    });

    expect(report.complete).toBe(false);
    expect(report.instances).toHaveLength(2);
    expect(report.deferred).toEqual(['i-00000000000000002', 'i-00000000000000003']);
  });

  it('lifts our taint from a Node whose instance runs again even when its deadline passed before the first batch', async () => {
    const world = stoppedCluster(3, 1);
    runningAgainWithTaint(world, 0, 'ebs-volume-remediator');

    const report = await sweepCluster({ ec2: world.ec2, kube: world.kube }, settings, {
      deadline: 0,
      now: () => 1,
    });

    expect(report.complete).toBe(false);
    expect(report.deferred).toHaveLength(2);
    expect(world.untainted).toEqual(['node-0']);
  });

  it('leaves stopped instances alone with ON_STOPPED=ignore', async () => {
    const world = stoppedCluster(2, 1);

    const report = await sweepCluster(
      { ec2: world.ec2, kube: world.kube },
      { ...settings, onStopped: 'ignore' },
    );

    expect(report.staleInstances).toBe(0);
    expect(world.detached).toEqual([]);
  });
});

describe('pods stuck behind a dead node', () => {
  /** A pod of `claim`, scheduled on `nodeName`, in `phase`. */
  const podOf = (name: string, claim: string, nodeName: string, phase: string) => ({
    namespace: 'shop',
    name,
    uid: `${name}-uid`,
    deleting: false,
    evictedByTaintManager: false,
    tolerations: [],
    claims: [claim],
    inlineVolumeIds: [],
    nodeName,
    phase,
  });

  it('are reported: Pending on a live Node, their volume attached to a dead instance’s Node', async () => {
    const world = stoppedCluster(1, 2);
    world.nodes.push({ name: 'live-1', taints: [], ready: true });
    const [first, second] = [...world.kube.persistentVolumes.values()];
    world.kube.persistentVolumes.set(first?.name ?? '', {
      ...first,
      name: first?.name ?? '',
      claim: 'shop/data-db-0',
    });
    world.kube.persistentVolumes.set(second?.name ?? '', {
      ...second,
      name: second?.name ?? '',
      claim: 'shop/data-db-1',
    });
    world.kube.pods.push(
      // Stuck: scheduled elsewhere, waiting for the volume node-0 holds.
      podOf('db-0', 'data-db-0', 'live-1', 'Pending'),
      // Not stuck: it runs (the volume is another's), or waits on no held volume.
      podOf('db-1', 'data-db-1', 'live-1', 'Running'),
      podOf('web-0', 'cache', 'live-1', 'Pending'),
    );

    const report = await sweepCluster(
      { ec2: world.ec2, kube: world.kube },
      { ...settings, dryRun: true },
    );

    expect(report.stuckPods).toEqual([
      {
        pod: 'shop/db-0',
        node: 'live-1',
        claim: 'data-db-0',
        persistentVolume: first?.name,
        heldBy: 'node-0',
        instanceId: 'i-00000000000000000',
      },
    ]);
  });

  it('are none, and cost no read, when no attachment is stale', async () => {
    const world = stoppedCluster(1, 1);
    world.instances.set('i-00000000000000000', {
      instanceId: 'i-00000000000000000',
      state: 'running',
      tags: { 'kubernetes.io/cluster/prod': 'owned' },
    });

    const report = await sweepCluster({ ec2: world.ec2, kube: world.kube }, settings);

    expect(report.stuckPods).toEqual([]);
    expect(world.kube.log.count('listPods') + world.kube.log.count('readPersistentVolume')).toBe(0);
  });
});

describe('what the events missed', () => {
  /** Instance `index` was asked to stop this long ago, as EC2's StateTransitionReason says. */
  function stoppedAgo(world: ReturnType<typeof stoppedCluster>, index: number, ms: number) {
    const instanceId = `i-${String(index).padStart(17, '0')}`;
    const instance = world.instances.get(instanceId);
    if (!instance) throw new Error(`no instance ${index}`);
    world.instances.set(instanceId, { ...instance, stateChangeRequestedAt: Date.now() - ms });
  }

  it('counts the instances the sweep had to free that died more than 10 minutes before it', async () => {
    const world = stoppedCluster(3, 1);
    stoppedAgo(world, 0, 15 * 60_000);
    stoppedAgo(world, 1, 11 * 60_000);
    stoppedAgo(world, 2, 60_000);

    const report = await sweepCluster({ ec2: world.ec2, kube: world.kube }, settings);

    expect(world.detached).toHaveLength(3);
    expect(report.eventsMissed).toBe(2);
    expect(report.instances[0]?.stateChangeRequestedAt).toEqual(expect.any(String));
  });

  it('counts none when node-loss had already freed them (nothing left to do)', async () => {
    const world = stoppedCluster(1, 1);
    stoppedAgo(world, 0, 15 * 60_000);
    world.kube.attachments.splice(0);

    const report = await sweepCluster({ ec2: world.ec2, kube: world.kube }, settings);

    expect(report.eventsMissed).toBe(0);
  });
});

describe('missedByEvents', () => {
  const report = {
    instanceId: 'i-1',
    state: 'terminated' as const,
    dryRun: false,
    actions: [],
    skipped: [],
  };
  const now = Date.parse('2026-12-07T12:00:00Z');

  it('is work on an instance dead for longer than node-loss needs, or forgotten by EC2', () => {
    expect(
      missedByEvents(
        { ...report, outcome: 'remediated', stateChangeRequestedAt: '2026-12-07T11:49:00Z' },
        now,
      ),
    ).toBe(true);
    expect(missedByEvents({ ...report, outcome: 'remediated', state: 'gone' }, now)).toBe(true);
  });

  it('is never a young death (node-loss may be at work on it), nor a dry-run or a refusal', () => {
    const old = '2026-12-07T11:00:00Z';
    expect(
      missedByEvents(
        { ...report, outcome: 'remediated', stateChangeRequestedAt: '2026-12-07T11:55:00Z' },
        now,
      ),
    ).toBe(false);
    expect(
      missedByEvents({ ...report, outcome: 'dry-run', stateChangeRequestedAt: old }, now),
    ).toBe(false);
    expect(
      missedByEvents({ ...report, outcome: 'refused', stateChangeRequestedAt: old }, now),
    ).toBe(false);
  });
});

describe('sweepCluster and a Node another instance adopted', () => {
  it('lifts our taint from a dead instance’s Node whose Lease a kubelet renews, and touches nothing of it', async () => {
    // No VolumeAttachment of its own: the Node is looked at because it carries our taint and
    // reports Ready, which a dead instance's Node cannot.
    const world = stoppedCluster(1, 0);
    const [node] = world.nodes;
    if (!node) throw new Error('no node');
    world.nodes[0] = {
      ...node,
      uid: 'uid-node',
      ready: true,
      taints: [
        {
          key: 'node.kubernetes.io/out-of-service',
          value: 'ebs-volume-remediator',
          effect: 'NoExecute',
        },
      ],
    };
    const instanceId = 'i-00000000000000000';
    world.instances.set(instanceId, {
      instanceId,
      state: 'terminated',
      tags: { 'kubernetes.io/cluster/prod': 'owned' },
      stateChangeRequestedAt: Date.now() - 600_000,
    });
    world.kube.leases.set('node-0', Date.now() - 3_000);

    const report = await sweepCluster({ ec2: world.ec2, kube: world.kube }, settings);

    expect(world.untainted).toEqual(['node-0']);
    expect(world.detached).toEqual([]);
    expect(report.instances).toMatchObject([
      {
        outcome: 'refused',
        reason: expect.stringContaining('shows life after the instance died'),
        actions: [{ action: 'lift-taint', outcome: 'done' }],
      },
    ]);
  });
});
