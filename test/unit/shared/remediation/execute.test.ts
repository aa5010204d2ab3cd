import { describe, expect, it } from 'vitest';
import {
  createReleaseChecker,
  executeRemediation,
  notStarted,
  stateFreshForMs,
} from '#functions/shared/remediation/execute.ts';
import type {
  AttachmentFacts,
  InstanceState,
  VolumeFacts,
} from '#functions/shared/remediation/facts.ts';
import type { InstancePlan } from '#functions/shared/remediation/plan.ts';
import type { Ec2Port, NodeChange } from '#functions/shared/remediation/ports.ts';
import { fakeEc2 } from '#support/fakes/fake-ec2.ts';
import { fakeKubernetes } from '#support/fakes/fake-kubernetes.ts';

const instanceId = 'i-0123456789abcdef0';
const options = {
  dryRun: false,
  evictionGraceMs: 0,
  controllerGraceMs: 0,
  detachTimeoutMs: 1000,
  forceDetachTimeoutMs: 1000,
  attacherGraceMs: 0,
};
const noSleep = async () => undefined;

/** An EC2 port whose DetachVolume takes a while, counting how many are in flight at once. */
function slowEc2(stuck: ReadonlySet<string> = new Set(), stateNow = 'terminated' as const) {
  const ec2 = fakeEc2({ instances: [{ instanceId, state: stateNow, tags: {} }] });
  let inFlight = 0;
  const calls: Array<{ volumeId: string; force: boolean }> = [];
  const current = {
    set state(state: InstanceState) {
      ec2.setState(instanceId, state);
    },
  };
  const port: Ec2Port = {
    ...ec2,
    // Every volume asked about is held by the instance until a detach frees it.
    async describeVolumes(ids): Promise<VolumeFacts[]> {
      for (const volumeId of ids) {
        if (!ec2.volumes.has(volumeId)) {
          ec2.volumes.set(volumeId, {
            volumeId,
            tags: {},
            attachments: [{ instanceId, device: '/dev/xvdba', state: 'attached' }],
          });
        }
      }
      return ec2.describeVolumes(ids);
    },
    async detachVolume(volumeId, instance, force) {
      calls.push({ volumeId, force });
      inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight--;
      if (!stuck.has(volumeId) || force) {
        ec2.volumes.set(volumeId, { volumeId, tags: {}, attachments: [] });
      }
      return ec2.detachVolume(volumeId, instance, force).then(() => 'detaching' as const);
    },
  };
  const stats = { maxInFlight: 0, calls };
  return { port, stats, current, log: ec2.log };
}

/** The dead instance's Node as the plans name it. */
const nodeA = { name: 'node-a', providerId: `aws:///us-east-1a/${instanceId}`, taints: [] };

/** The cluster a plan was made on: the Node, the VolumeAttachments and the pods it names. */
function clusterOf(plan: Extract<InstancePlan, { outcome: 'remediate' }>) {
  return fakeKubernetes({
    nodes: [nodeA],
    attachments: plan.volumes.flatMap((task) =>
      task.attachments.map((ref) => ({
        name: ref.name,
        ...(ref.uid ? { uid: ref.uid } : {}),
        attacher: 'ebs.csi.aws.com',
        nodeName: nodeA.name,
        deleting: false,
        finalizers: [],
      })),
    ),
    pods: plan.evictPods.map((pod) => ({
      ...pod,
      evictedByTaintManager: pod.evictedByTaintManager ?? false,
      tolerations: [],
      claims: [],
      inlineVolumeIds: [],
      nodeName: nodeA.name,
    })),
  });
}

/** An addNodeTaint that records the Node it tainted (or `entry`) and reports the taint done. */
function taintRecorded(list: string[], entry?: string) {
  return async (nodeName: string): Promise<NodeChange> => {
    list.push(entry ?? nodeName);
    return 'done';
  };
}

function planWith(volumeCount: number, state: 'terminated' | 'shutting-down' = 'terminated') {
  return {
    outcome: 'remediate',
    instanceId,
    state,
    forceAllowed: state === 'terminated',
    volumes: Array.from({ length: volumeCount }, (_, i) => ({
      volumeId: `vol-${String(i).padStart(17, '0')}`,
      detach: { device: '/dev/xvdba' },
      attachments: [{ name: `va-${i}`, uid: `uid-${i}` }],
    })),
    evictPods: [],
    followPods: [],
    controllersDetach: false,
    skipped: [],
  } satisfies Extract<InstancePlan, { outcome: 'remediate' }>;
}

describe('executeRemediation', () => {
  it('detaches the volumes of one node all at once, not one after another', async () => {
    const ec2 = slowEc2();

    await executeRemediation(
      planWith(20),
      { ec2: ec2.port, kube: clusterOf(planWith(20)), sleep: noSleep },
      options,
    );

    expect(ec2.stats.maxInFlight).toBe(20);
  });

  it('checks the release of concurrent volumes with one DescribeVolumes call', async () => {
    const ec2 = slowEc2();
    let describeCalls = 0;
    const counted = {
      ...ec2.port,
      describeVolumes: (ids: readonly string[]) => {
        describeCalls++;
        return ec2.port.describeVolumes(ids);
      },
    };

    await executeRemediation(
      planWith(20),
      { ec2: counted, kube: clusterOf(planWith(20)), sleep: noSleep },
      options,
    );

    // One in the normal case; a little slack for a busy machine spreading the detaches out.
    expect(describeCalls).toBeLessThanOrEqual(3);
  });

  it('answers release checks about several instances with one DescribeVolumes call, each for its own instance', async () => {
    const other = 'i-0fedcba9876543210';
    const asked: string[][] = [];
    const ec2: Ec2Port = {
      ...slowEc2().port,
      describeVolumes: async (ids) => {
        asked.push([...ids]);
        return [
          { volumeId: 'vol-a', tags: {}, attachments: [] },
          {
            volumeId: 'vol-b',
            tags: {},
            attachments: [{ instanceId: other, device: '/dev/xvdbb', state: 'attached' }],
          },
        ];
      },
    };
    const isReleased = createReleaseChecker(ec2);

    const answers = await Promise.all([
      isReleased('vol-a', instanceId),
      isReleased('vol-b', other),
    ]);

    expect(answers).toEqual([true, false]);
    expect(asked).toEqual([['vol-a', 'vol-b']]);
  });

  it('forces a detach that does not finish in time, for a terminated instance', async () => {
    const ec2 = slowEc2(new Set(['vol-00000000000000000']));

    const records = await executeRemediation(
      planWith(1),
      { ec2: ec2.port, kube: clusterOf(planWith(1)), sleep: noSleep },
      {
        ...options,
        detachTimeoutMs: 1,
      },
    );

    expect(ec2.stats.calls).toEqual([
      { volumeId: 'vol-00000000000000000', force: false },
      { volumeId: 'vol-00000000000000000', force: true },
    ]);
    expect(records[0]).toMatchObject({ action: 'force-detach-volume', outcome: 'done' });
  });

  it('asks EC2 again right before forcing, and does not force an instance that came back', async () => {
    const ec2 = slowEc2(new Set(['vol-00000000000000000']));
    ec2.current.state = 'running';

    const records = await executeRemediation(
      planWith(1),
      { ec2: ec2.port, kube: clusterOf(planWith(1)), sleep: noSleep },
      { ...options, detachTimeoutMs: 1 },
    );

    expect(ec2.stats.calls.every((call) => !call.force)).toBe(true);
    expect(records).toEqual([
      expect.objectContaining({
        action: 'detach-volume',
        outcome: 'failed',
        detail: expect.stringContaining('EC2 now reports the instance running: no force detach'),
      }),
    ]);
  });

  it.each([
    ['a plan that does not say when EC2 was read', undefined],
    ['a plan on a reading older than a second', Date.now() - stateFreshForMs - 1],
  ])(
    'asks EC2 again before tainting, for %s, and leaves the Node of an instance that came back',
    async (_what, stateReadAt) => {
      const ec2 = slowEc2(new Set(), 'terminated');
      ec2.current.state = 'running';
      const tainted: string[] = [];
      const plan = {
        ...planWith(0),
        state: 'stopped' as const,
        taintNode: 'node-a',
        ...(stateReadAt === undefined ? {} : { stateReadAt }),
      };

      const records = await executeRemediation(
        plan,
        {
          ec2: ec2.port,
          kube: { ...clusterOf(plan), addNodeTaint: taintRecorded(tainted) },
          sleep: noSleep,
        },
        options,
      );

      expect(tainted).toEqual([]);
      expect(records).toEqual([
        expect.objectContaining({ action: 'taint-node', outcome: 'refused' }),
      ]);
    },
  );

  it('taints on the plan’s own reading of EC2 when it is a moment old, without asking again', async () => {
    const ec2 = slowEc2(new Set(), 'terminated');
    const asked: string[][] = [];
    const tainted: string[] = [];
    const plan = {
      ...planWith(0),
      state: 'stopped' as const,
      taintNode: 'node-a',
      stateReadAt: Date.now(),
    };

    const records = await executeRemediation(
      plan,
      {
        ec2: {
          ...ec2.port,
          describeInstances: async (ids) => {
            asked.push([...ids]);
            return ec2.port.describeInstances(ids);
          },
        },
        kube: { ...clusterOf(plan), addNodeTaint: taintRecorded(tainted) },
        sleep: noSleep,
      },
      options,
    );

    expect(asked).toEqual([]);
    expect(tainted).toEqual(['node-a']);
    expect(records).toEqual([expect.objectContaining({ action: 'taint-node', outcome: 'done' })]);
  });

  it('deletes a VolumeAttachment by the uid it observed', async () => {
    const deleted: Array<[string, string | undefined]> = [];

    await executeRemediation(
      planWith(1),
      {
        ec2: slowEc2().port,
        kube: {
          ...clusterOf(planWith(1)),
          deleteVolumeAttachment: async (name, uid) => {
            deleted.push([name, uid]);
            return 'deleted';
          },
        },
        sleep: noSleep,
      },
      options,
    );

    expect(deleted).toEqual([['va-0', 'uid-0']]);
  });

  it('never strips the finalizer of a VolumeAttachment created again under the same name', async () => {
    const recreated: AttachmentFacts = {
      name: 'va-0',
      uid: 'someone-elses',
      attacher: 'ebs.csi.aws.com',
      nodeName: 'node-a',
      deleting: false,
      finalizers: ['external-attacher/ebs-csi-aws-com'],
    };
    let removals = 0;

    const records = await executeRemediation(
      planWith(1),
      {
        ec2: slowEc2().port,
        kube: {
          ...clusterOf(planWith(1)),
          readVolumeAttachment: async () => recreated,
          removeVolumeAttachmentFinalizer: async () => {
            removals++;
            return { outcome: 'gone' };
          },
        },
        sleep: noSleep,
      },
      options,
    );

    expect(removals).toBe(0);
    expect(records.map((r) => r.action)).toEqual(['detach-volume', 'delete-volumeattachment']);
  });

  it('reports the work done when a read fails while waiting for the attacher, and fails what it could not check', async () => {
    const internalError = Object.assign(
      new Error('Internal error occurred: etcdserver: leader changed'),
      {
        code: 500,
      },
    );

    const records = await executeRemediation(
      planWith(3),
      {
        ec2: slowEc2().port,
        kube: {
          ...clusterOf(planWith(3)),
          readVolumeAttachment: async () => {
            throw internalError;
          },
        },
        sleep: noSleep,
      },
      options,
    );

    const summary = records.map(
      (r) => `${r.action} ${r.volumeAttachment ?? r.volumeId}: ${r.outcome}`,
    );
    expect(summary.filter((s) => s.startsWith('detach-volume'))).toEqual([
      'detach-volume vol-00000000000000000: done',
      'detach-volume vol-00000000000000001: done',
      'detach-volume vol-00000000000000002: done',
    ]);
    expect(summary.filter((s) => !s.startsWith('detach-volume')).sort()).toEqual([
      'delete-volumeattachment va-0: done',
      'delete-volumeattachment va-1: done',
      'delete-volumeattachment va-2: done',
      'remove-finalizer va-0: failed',
      'remove-finalizer va-1: failed',
      'remove-finalizer va-2: failed',
    ]);
    expect(records.find((r) => r.outcome === 'failed')?.detail).toBe(
      'reading VolumeAttachment va-0 to see whether its attacher released it: Internal error occurred: etcdserver: leader changed',
    );
  });

  it('waits through a failed read: one bad answer does not end a wait the next one finishes', async () => {
    const ec2 = slowEc2();
    ec2.log.failNext('describeVolumes', new Error('socket hang up'));

    const records = await executeRemediation(
      planWith(1),
      { ec2: ec2.port, kube: clusterOf(planWith(1)), sleep: noSleep },
      options,
    );

    expect(records.map((r) => `${r.action}: ${r.outcome}`)).toEqual([
      'detach-volume: done',
      'delete-volumeattachment: done',
    ]);
  });

  it('past its deadline starts nothing, and reports every action as not started', async () => {
    const ec2 = slowEc2();
    let deletions = 0;

    const records = await executeRemediation(
      planWith(2),
      {
        ec2: ec2.port,
        kube: {
          ...clusterOf(planWith(2)),
          deleteVolumeAttachment: async () => {
            deletions++;
            return 'deleted';
          },
        },
        sleep: noSleep,
        deadline: Date.now() - 1,
      },
      options,
    );

    expect(records.map((r) => [r.action, r.outcome, r.detail])).toEqual([
      ['detach-volume', 'failed', notStarted],
      ['detach-volume', 'failed', notStarted],
    ]);
    expect(ec2.stats.calls).toEqual([]);
    expect(deletions).toBe(0);
  });

  it('cuts a wait at its deadline, and then forces nothing', async () => {
    const ec2 = slowEc2(new Set(['vol-00000000000000000']));

    const records = await executeRemediation(
      planWith(1),
      { ec2: ec2.port, kube: clusterOf(planWith(1)), deadline: Date.now() + 300 },
      { ...options, detachTimeoutMs: 600_000 },
    );

    expect(ec2.stats.calls).toEqual([{ volumeId: 'vol-00000000000000000', force: false }]);
    expect(records).toMatchObject([
      {
        action: 'detach-volume',
        outcome: 'failed',
        detail: expect.stringContaining('not started'),
      },
    ]);
  });

  it('does not force while the instance is shutting down, and keeps the attachment', async () => {
    const ec2 = slowEc2(new Set(['vol-00000000000000000']));

    const records = await executeRemediation(
      planWith(1, 'shutting-down'),
      { ec2: ec2.port, kube: clusterOf(planWith(1, 'shutting-down')), sleep: noSleep },
      {
        ...options,
        detachTimeoutMs: 1,
      },
    );

    expect(ec2.stats.calls.every((call) => !call.force)).toBe(true);
    expect(records).toEqual([
      expect.objectContaining({ action: 'detach-volume', outcome: 'failed' }),
    ]);
  });

  it('in dry-run calls nothing that changes anything', async () => {
    const ec2 = slowEc2();

    const records = await executeRemediation(
      planWith(2),
      { ec2: ec2.port, kube: clusterOf(planWith(2)), sleep: noSleep },
      {
        ...options,
        dryRun: true,
      },
    );

    expect(ec2.stats.calls).toEqual([]);
    expect(records.every((r) => r.outcome === 'planned')).toBe(true);
  });
});

describe('executeRemediation: the stages that recover the pod', () => {
  const podRef = { namespace: 'db', name: 'db-0', uid: 'uid-old', deleting: false };
  /** The pod once the taint-eviction controller's own delete has landed. */
  const evicted = {
    ...podRef,
    deleting: true,
    evictedByTaintManager: true,
    tolerations: [],
    claims: [],
    inlineVolumeIds: [],
  };

  function fencedPlan(volumeCount: number) {
    return {
      ...planWith(volumeCount),
      state: 'terminated' as const,
      taintNode: 'node-a',
      evictPods: [podRef],
      controllersDetach: true,
    };
  }

  it('taints first, then force-deletes the pod by uid only once the taint-eviction controller deleted it', async () => {
    const steps: string[] = [];
    let reads = 0;
    const records = await executeRemediation(
      fencedPlan(0),
      {
        ec2: slowEc2().port,
        kube: {
          ...clusterOf(fencedPlan(0)),
          addNodeTaint: taintRecorded(steps, 'taint'),
          readPod: async () => {
            reads++;
            steps.push('read');
            // The taint-eviction controller's delete lands on the second look.
            const evicted = reads >= 2;
            return {
              ...podRef,
              tolerations: [],
              claims: [],
              inlineVolumeIds: [],
              deleting: evicted,
              evictedByTaintManager: evicted,
            };
          },
          deletePod: async (namespace, name, uid, how) => {
            steps.push(`${how}-delete ${namespace}/${name} ${uid}`);
            return 'deleted';
          },
        },
        sleep: noSleep,
      },
      { ...options, evictionGraceMs: 5_000 },
    );

    expect(steps).toEqual(['taint', 'read', 'read', 'force-delete db/db-0 uid-old']);
    expect(records.map((r) => [r.action, r.outcome])).toEqual([
      ['taint-node', 'done'],
      ['delete-pod', 'done'],
    ]);
  });

  it('leaves the replacement alone: a pod under the same name with another uid is not the one observed', async () => {
    let forceDeletes = 0;
    const records = await executeRemediation(
      fencedPlan(0),
      {
        ec2: slowEc2().port,
        kube: {
          ...clusterOf(fencedPlan(0)),
          readPod: async () => ({
            ...podRef,
            uid: 'uid-replacement',
            tolerations: [],
            claims: [],
            inlineVolumeIds: [],
            evictedByTaintManager: false,
          }),
          deletePod: async () => {
            forceDeletes++;
            return 'deleted';
          },
        },
        sleep: noSleep,
      },
      { ...options, evictionGraceMs: 5_000 },
    );

    expect(forceDeletes).toBe(0);
    expect(records.find((r) => r.action === 'delete-pod')?.outcome).toBe('already-done');
  });

  it.each([
    [
      'fails (a webhook denied it)',
      async (): Promise<NodeChange> => {
        throw new Error(
          'tainting node node-a: Kubernetes API answered 403: admission webhook denied',
        );
      },
      'failed',
    ],
    ['finds another Node under the name', async (): Promise<NodeChange> => 'not-ours', 'refused'],
  ] as const)(
    'stops at a taint that %s: no pod is deleted and no volume touched',
    async (_case, addNodeTaint, outcome) => {
      const changes: string[] = [];
      const ec2 = slowEc2();

      const records = await executeRemediation(
        fencedPlan(1),
        {
          ec2: ec2.port,
          kube: {
            ...clusterOf(fencedPlan(1)),
            addNodeTaint,
            readPod: async () => ({ ...evicted }),
            deletePod: async (_ns, name, _uid, how) => {
              changes.push(`${how} ${name}`);
              return 'deleted';
            },
            deleteVolumeAttachment: async (name) => {
              changes.push(`delete ${name}`);
              return 'deleted';
            },
          },
          sleep: noSleep,
        },
        { ...options, evictionGraceMs: 5_000 },
      );

      expect(records.map((r) => [r.action, r.outcome])).toEqual([['taint-node', outcome]]);
      expect(changes).toEqual([]);
      expect(ec2.stats.calls).toEqual([]);
    },
  );

  it('reports a taint that was there already as already done, and goes on', async () => {
    const records = await executeRemediation(
      fencedPlan(0),
      {
        ec2: slowEc2().port,
        kube: {
          ...clusterOf(fencedPlan(0)),
          addNodeTaint: async () => 'already-done',
          readPod: async () => evicted,
        },
        sleep: noSleep,
      },
      { ...options, evictionGraceMs: 5_000 },
    );

    expect(records.map((r) => [r.action, r.outcome])).toEqual([
      ['taint-node', 'already-done'],
      ['delete-pod', 'done'],
    ]);
  });

  it.each([
    ['the controller never deleted it', false],
    ['someone else deleted it, not the controller', true],
  ])(
    'never force-deletes a pod before the taint-eviction controller’s own delete (%s): deletes it gracefully by uid, keeps its volumes, and fails for the retry',
    async (_case, deleting) => {
      const deletes: string[] = [];
      const ec2 = slowEc2();

      const records = await executeRemediation(
        fencedPlan(1),
        {
          ec2: ec2.port,
          kube: {
            ...clusterOf(fencedPlan(1)),
            readPod: async () => ({ ...evicted, deleting, evictedByTaintManager: false }),
            deletePod: async (_ns, _name, uid, how) => {
              deletes.push(`${how} ${uid}`);
              return 'deleted';
            },
          },
          sleep: noSleep,
        },
        { ...options, evictionGraceMs: 50 },
      );

      expect(deletes).toEqual(deleting ? [] : ['graceful uid-old']);
      expect(records.map((r) => [r.action, r.outcome])).toEqual([
        ['taint-node', 'done'],
        ['delete-pod', 'failed'],
      ]);
      expect(records[1]?.detail).toContain('not force-deleted');
      expect(ec2.stats.calls).toEqual([]);
    },
  );

  it('force-deletes at once a pod the controller had evicted when it was listed', async () => {
    const steps: string[] = [];

    await executeRemediation(
      { ...fencedPlan(0), evictPods: [{ ...podRef, deleting: true, evictedByTaintManager: true }] },
      {
        ec2: slowEc2().port,
        kube: {
          ...clusterOf({
            ...fencedPlan(0),
            evictPods: [{ ...podRef, deleting: true, evictedByTaintManager: true }],
          }),
          readPod: async () => {
            steps.push('read');
            return evicted;
          },
          deletePod: async (_ns, _name, _uid, how) => {
            steps.push(how);
            return 'deleted';
          },
        },
        sleep: noSleep,
      },
      options,
    );

    expect(steps).toEqual(['force']);
  });

  it('in dry-run plans the taint, the pod deletion and the volume actions, and calls nothing that changes anything', async () => {
    const changes: string[] = [];
    const ec2 = slowEc2();

    const records = await executeRemediation(
      fencedPlan(1),
      {
        ec2: ec2.port,
        kube: {
          ...clusterOf(fencedPlan(1)),
          addNodeTaint: taintRecorded(changes, 'taint'),
          deletePod: async () => {
            changes.push('delete pod');
            return 'deleted';
          },
          deleteVolumeAttachment: async () => {
            changes.push('delete attachment');
            return 'deleted';
          },
        },
        sleep: noSleep,
      },
      { ...options, dryRun: true },
    );

    expect(changes).toEqual([]);
    expect(ec2.stats.calls).toEqual([]);
    expect(records.map((r) => [r.action, r.outcome])).toEqual([
      ['taint-node', 'planned'],
      ['delete-pod', 'planned'],
      ['detach-volume', 'planned'],
      ['delete-volumeattachment', 'planned'],
    ]);
  });

  it('lets the controllers free the fenced Node’s volumes, and frees none itself when they do', async () => {
    const ec2 = slowEc2();
    // EC2 no longer holds the volume and the VolumeAttachment is gone: the controllers did it.
    const freedEc2 = { ...ec2.port, describeVolumes: async () => [] };

    const records = await executeRemediation(
      { ...fencedPlan(1), evictPods: [] },
      { ec2: freedEc2, kube: fakeKubernetes({ nodes: [nodeA] }), sleep: noSleep },
      { ...options, controllerGraceMs: 1_000 },
    );

    expect(ec2.stats.calls).toEqual([]);
    expect(records.map((r) => r.action)).toEqual(['taint-node', 'controllers-detached']);
  });

  it('frees what the controllers left after their grace (an attacher that does not answer)', async () => {
    const ec2 = slowEc2();
    const stuck: AttachmentFacts = {
      name: 'va-0',
      uid: 'uid-0',
      attacher: 'ebs.csi.aws.com',
      nodeName: 'node-a',
      deleting: false,
      finalizers: [],
    };

    const records = await executeRemediation(
      { ...fencedPlan(1), evictPods: [] },
      {
        ec2: ec2.port,
        kube: {
          ...clusterOf({ ...fencedPlan(1), evictPods: [] }),
          readVolumeAttachment: async () => stuck,
        },
        sleep: noSleep,
      },
      { ...options, controllerGraceMs: 1 },
    );

    expect(ec2.stats.calls).toEqual([{ volumeId: 'vol-00000000000000000', force: false }]);
    expect(records.map((r) => r.action)).toContain('delete-volumeattachment');
  });
});
