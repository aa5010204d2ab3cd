// The outcome a user waits for, on the real control plane with every timer at its default: the
// replacement pod Running on another node with its volume, soon after the node-loss event, with
// no fight with the attach/detach controller (no VolumeAttachment created again for the dead
// node, no attach to the dead instance, watched for one sync period after the recovery), and
// the other replica untouched.
import { afterAll, describe, expect, it } from 'vitest';
import {
  ebsCsiAttacher,
  eksAutoModeEbsAttacher,
} from '#functions/shared/contract/kubernetes-identity.ts';
import {
  actionsDone,
  deathAndRecovery,
  finalResults,
  severalDeathsAtOnce,
} from '#support/death-and-recovery.ts';
import type { StatefulCluster } from '#support/stateful-cluster.ts';

const clusters: StatefulCluster[] = [];
afterAll(async () => {
  await Promise.all(clusters.map((c) => c.dispose().catch(() => undefined)));
});

describe.concurrent('recovery on a real control plane', { timeout: 420_000 }, () => {
  it.each([
    { death: 'terminated', cloudNodeLifecycle: true, driver: ebsCsiAttacher },
    { death: 'terminated', cloudNodeLifecycle: false, driver: ebsCsiAttacher },
    { death: 'stopped', cloudNodeLifecycle: true, driver: ebsCsiAttacher },
    { death: 'terminated', cloudNodeLifecycle: true, driver: eksAutoModeEbsAttacher },
  ] as const)(
    'brings the replacement pod of a $death instance (cloud node lifecycle: $cloudNodeLifecycle, driver $driver) Running with its volume in seconds, with no fight',
    async (scenario) => {
      const run = await deathAndRecovery(clusters, scenario);

      // Every event EventBridge delivered (the one of the way down, stopping or shutting-down,
      // the final one and its duplicate) was handled without a refusal; one of them remediated.
      const outcomes = run.deliveries.flatMap((d) =>
        d.result.status === 'done' ? d.result.instances.map((i) => i.outcome) : [d.result.status],
      );
      expect(outcomes).toContain('remediated');
      expect(outcomes.every((o) => ['remediated', 'nothing-to-do', 'skipped'].includes(o))).toBe(
        true,
      );
      expect(finalResults(run.deliveries, scenario.death).length).toBe(2);
      expect(run.timeline).toMatchObject({
        recovered: true,
        volumeAttachmentsRecreated: 0,
        reattachmentsToDeadInstance: 0,
        replacementsDeleted: 0,
      });
      expect(run.timeline.replacementNode).not.toBe(run.before.deadNode.nodeName);
      // The node agents (a DaemonSet tolerating every taint) and the static pod stay bound to
      // the dead Node: only the replica's pod is deleted, and they hold nothing back.
      const deletedPods = actionsDone(run.deliveries, 'delete-pod').map((a) => a.pod);
      expect(deletedPods).toEqual([`${run.cluster.namespace}/${run.replica.podName}`]);
      // Seconds, where Kubernetes alone takes minutes or never (BENCHMARKS.md has the numbers).
      expect(run.recoveredAfterEvent).toBeLessThan(30);
      expect((await run.cluster.nodeOf(run.other)).nodeName).toBe(run.otherNode.nodeName);
      expect(await run.cluster.isRunningWithVolume(run.other)).toBe(true);
      // Where an operator looks: `kubectl describe` of the Node, the old pod, the attachment.
      const { deadNode, nodeUid, oldUid, attachmentsAtDeath } = run.before;
      const onNode = await run.cluster.describedEvents({
        kind: 'Node',
        name: deadNode.nodeName,
        uid: nodeUid,
      });
      expect(onNode.map((e) => e.reason)).toEqual(
        expect.arrayContaining([
          scenario.death === 'stopped' ? 'InstanceStopped' : 'InstanceTerminated',
          'OutOfServiceTaintApplied',
        ]),
      );
      expect(onNode.find((e) => e.reason === 'OutOfServiceTaintApplied')?.message).toContain(
        `EC2 reports instance ${deadNode.instanceId} ${scenario.death}`,
      );
      const onOldPod = await run.cluster.describedEvents({
        kind: 'Pod',
        namespace: run.cluster.namespace,
        name: run.replica.podName,
        uid: oldUid,
      });
      expect(onOldPod.map((e) => e.reason)).toEqual(['PodForceDeleted']);
      const onAttachments = await Promise.all(
        [...attachmentsAtDeath].map((uid) =>
          run.cluster.describedEvents({ kind: 'VolumeAttachment', uid }),
        ),
      );
      expect(onAttachments.flat().map((e) => e.reason)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^Volume(Released|Detached|AttachmentDeleted)$/),
        ]),
      );
      // The time to recover, as the remediator reports it, and as the test saw it: the same
      // replacement, Running on the same Node, within a second, counted from the death.
      const recoveries = run.deliveries.flatMap((d) =>
        d.result.status === 'done' ? d.result.instances.flatMap((i) => i.recoveries ?? []) : [],
      );
      expect(recoveries).toEqual([
        expect.objectContaining({
          pod: `${run.cluster.namespace}/${run.replica.podName}`,
          outcome: 'recovered',
          replacement: `${run.cluster.namespace}/${run.replica.podName}`,
          node: run.timeline.replacementNode,
        }),
      ]);
      const [recovery] = recoveries;
      const reportedDeath = Date.parse(recovery?.diedAt ?? '');
      // EC2 says when the stop or termination was asked for, to the second.
      expect(Math.abs(reportedDeath - run.diedAt)).toBeLessThan(1500);
      const seenRunning = run.diedAt + (run.timeline.replacementRunning ?? 0) * 1000;
      expect(
        Math.abs((recovery?.secondsToRecover ?? 0) - (seenRunning - reportedDeath) / 1000),
      ).toBeLessThanOrEqual(1);
      const onReplacement = await run.cluster.describedEvents({
        kind: 'Pod',
        namespace: run.cluster.namespace,
        name: run.replica.podName,
        uid: (await run.cluster.pod(run.replica))?.metadata?.uid ?? '',
      });
      expect(onReplacement.map((e) => e.reason)).toEqual(['PodRecovered']);
      expect(onReplacement[0]?.message).toContain(`s after instance ${deadNode.instanceId} was`);
      if (scenario.death === 'stopped') {
        expect((await run.cluster.volumeState(run.replica.volumeId)).attachedTo).not.toContain(
          run.before.deadNode.instanceId,
        );
      }
    },
  );

  it('with DELETE_TERMINATED_NODES deletes the Node of a terminated instance nothing else deletes, once its pod and volume are free', async () => {
    const run = await deathAndRecovery(clusters, {
      death: 'terminated',
      cloudNodeLifecycle: false,
      settings: { DELETE_TERMINATED_NODES: 'true' },
    });

    expect(run.timeline).toMatchObject({ recovered: true, volumeAttachmentsRecreated: 0 });
    expect(await run.cluster.node(run.before.deadNode.nodeName)).toBeUndefined();
    expect(actionsDone(run.deliveries, 'delete-node')).toEqual([
      expect.objectContaining({ node: run.before.deadNode.nodeName }),
    ]);
  });

  it('brings back every replica when several nodes of a zone die at once, deleting no replacement and nothing of a live node', async () => {
    const run = await severalDeathsAtOnce(clusters, {
      death: 'terminated',
      cloudNodeLifecycle: false,
      deaths: 3,
      survivors: 1,
    });

    // Each instance's events came another way (in order with a duplicate, the last first, the
    // last alone): each was remediated once, none refused.
    for (const deliveries of run.perInstance) {
      for (const result of finalResults(deliveries, 'terminated')) {
        expect(result.status).toBe('done');
      }
      expect(actionsDone(deliveries, 'delete-pod')).toHaveLength(1);
    }
    for (const timeline of run.timelines) {
      expect(timeline).toMatchObject({
        recovered: true,
        replacementsDeleted: 0,
        volumeAttachmentsRecreated: 0,
        reattachmentsToDeadInstance: 0,
      });
    }
    expect(run.survivorsAfter).toEqual(
      run.survivorsBefore.map(({ uid, node }) => ({ uid, node, runningWithVolume: true })),
    );
  });

  it('recovers within a sync period from an event that arrives after the Node and the old pod are gone', async () => {
    const run = await deathAndRecovery(clusters, {
      death: 'terminated',
      cloudNodeLifecycle: true,
      late: true,
    });

    expect(run.timeline).toMatchObject({
      recovered: true,
      volumeAttachmentsRecreated: 0,
      reattachmentsToDeadInstance: 0,
    });
    expect(run.recoveredAfterEvent).toBeLessThan(75);
    expect(await run.cluster.isRunningWithVolume(run.other)).toBe(true);
  });
});
