import { afterAll, describe, expect, it } from 'vitest';
import { ebsCsiAttacherFinalizer } from '#functions/shared/identity/volume-attachment-name.ts';
import { endpoints, recordedLifecycleActions } from '#support/environment.ts';
import { ignoreNotFound, TestCluster, type TestVolume } from '#support/fixtures.ts';
import { lifecycleActionEvent, lifecycleFunction } from '#support/functions-under-test.ts';

const hook = 'ebs-volume-remediator';
const settings = { LIFECYCLE_HOOK_NAMES: `other-team-hook,${hook}`, LIFECYCLE_WAIT_SECONDS: '20' };

/** What a drain does to a VolumeAttachment: the attacher detaches, then lets the object go. */
async function drain(cluster: TestCluster, volume: TestVolume): Promise<void> {
  const name = volume.volumeAttachmentName;
  await ignoreNotFound(cluster.storage.deleteVolumeAttachment({ name }));
  await ignoreNotFound(
    cluster.storage.patchVolumeAttachment({
      name,
      body: [
        { op: 'test', path: '/metadata/finalizers', value: [ebsCsiAttacherFinalizer] },
        { op: 'remove', path: '/metadata/finalizers' },
      ],
    }),
  );
}

async function callsFor(group: string) {
  return (await recordedLifecycleActions()).filter((call) => call.autoScalingGroupName === group);
}

describe('lifecycle: scale-in with a terminate lifecycle hook', () => {
  const cluster = TestCluster.create('lifecycle', endpoints());
  afterAll(() => cluster.dispose());

  it('in dry-run sends Auto Scaling nothing, and reports the VolumeAttachments it would wait for', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);
    const group = `${cluster.name}-dry-run`;

    const result = await lifecycleFunction(cluster, { ...settings, DRY_RUN: 'true' }).invoke(
      lifecycleActionEvent(node.instanceId, group, hook, crypto.randomUUID()),
    );

    expect(result).toMatchObject({
      status: 'lifecycle',
      lifecycle: {
        outcome: 'dry-run',
        dryRun: true,
        heartbeats: 0,
        attachmentsLeft: [volume.volumeAttachmentName],
      },
    });
    expect(await callsFor(group)).toEqual([]);
  });

  it('completes the action with CONTINUE, once, as soon as a drain has removed the VolumeAttachments', async () => {
    const node = await cluster.addNode();
    const volumes = [await cluster.addVolume(node), await cluster.addVolume(node)];
    const group = `${cluster.name}-drained`;
    const token = crypto.randomUUID();
    setTimeout(() => void Promise.all(volumes.map((v) => drain(cluster, v))), 2000);

    const result = await lifecycleFunction(cluster, settings).invoke(
      lifecycleActionEvent(node.instanceId, group, hook, token),
    );

    expect(result).toMatchObject({
      status: 'lifecycle',
      lifecycle: { outcome: 'drained', attachmentsLeft: [] },
    });
    const waited = result.status === 'lifecycle' ? result.lifecycle.waitedMs : 0;
    expect(waited).toBeGreaterThanOrEqual(2000);
    expect(waited).toBeLessThan(20_000);
    const completions = (await callsFor(group)).filter(
      (c) => c.action === 'CompleteLifecycleAction',
    );
    expect(completions).toMatchObject([
      {
        lifecycleActionToken: token,
        lifecycleHookName: hook,
        lifecycleActionResult: 'CONTINUE',
        outcome: 'accepted',
      },
    ]);
    expect(await cluster.instanceState(node.instanceId)).toBe('running');
  });

  it('keeps the hook alive with heartbeats while nothing drains, then completes when the budget is spent', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);
    const group = `${cluster.name}-stuck`;

    const result = await lifecycleFunction(cluster, {
      ...settings,
      LIFECYCLE_WAIT_SECONDS: '3.5',
      LIFECYCLE_HEARTBEAT_SECONDS: '1',
    }).invoke(lifecycleActionEvent(node.instanceId, group, hook, crypto.randomUUID()));

    expect(result).toMatchObject({
      status: 'lifecycle',
      lifecycle: { outcome: 'budget-spent', attachmentsLeft: [volume.volumeAttachmentName] },
    });
    const calls = await callsFor(group);
    const heartbeats = calls.filter((c) => c.action === 'RecordLifecycleActionHeartbeat');
    expect(heartbeats.length).toBeGreaterThanOrEqual(3);
    // No gap between heartbeats (and from the last to the completion) longer than the interval
    // plus one poll.
    const times = calls.map((c) => Date.parse(c.receivedAt));
    for (let i = 1; i < times.length; i++)
      expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeLessThan(2100);
    expect(calls.at(-1)).toMatchObject({
      action: 'CompleteLifecycleAction',
      lifecycleActionResult: 'CONTINUE',
    });
    // Nothing is taken from a running node: its attachment is still there.
    expect(await cluster.volumeAttachmentNames()).toContain(volume.volumeAttachmentName);
  });

  it("makes no call at all for another team's hook", async () => {
    const node = await cluster.addNode();
    const group = `${cluster.name}-foreign`;

    const result = await lifecycleFunction(cluster, settings).invoke(
      lifecycleActionEvent(
        node.instanceId,
        group,
        'drain-with-custom-tooling',
        crypto.randomUUID(),
      ),
    );

    expect(result).toMatchObject({
      status: 'skipped',
      reason: expect.stringContaining('left to its owner'),
    });
    expect(await callsFor(group)).toEqual([]);
  });

  it('reports a replayed event as already done, without an error', async () => {
    const node = await cluster.addNode();
    const group = `${cluster.name}-replayed`;
    const event = lifecycleActionEvent(node.instanceId, group, hook, crypto.randomUUID());
    const remediator = lifecycleFunction(cluster, settings);

    const first = await remediator.invoke(event);
    const replay = await remediator.invoke(event);

    expect(first).toMatchObject({ lifecycle: { outcome: 'drained' } });
    expect(replay).toMatchObject({ lifecycle: { outcome: 'already-completed', heartbeats: 0 } });
    const accepted = (await callsFor(group)).filter(
      (c) => c.action === 'CompleteLifecycleAction' && c.outcome === 'accepted',
    );
    expect(accepted).toHaveLength(1);
  });
});
