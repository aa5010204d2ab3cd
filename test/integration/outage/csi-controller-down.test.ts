// The CSI controller (external-attacher and EBS CSI plugin) lost with the node, as when its only
// replica ran there, and back 15 s later, as when its second replica takes over: nothing can
// attach or detach meanwhile, so what must hold is that the remediator's taint and pod deletion
// leave nothing for the returning controller to trip on (the dead node's VolumeAttachment freed,
// by the attacher or, past the grace, by the remediator) and nothing attached back to the dead
// instance.
//
// This file belongs to the `outage` project, which vitest runs apart from every other test: the
// CSI controller is shared, and its outage would delay their attaches.
import { afterAll, describe, expect, it } from 'vitest';
import { actionsDone, deathAndRecovery } from '#support/death-and-recovery.ts';
import { switchCsiControllerTo } from '#support/environment.ts';
import type { StatefulCluster } from '#support/stateful-cluster.ts';

const clusters: StatefulCluster[] = [];
afterAll(async () => {
  await switchCsiControllerTo('start');
  await Promise.all(clusters.map((c) => c.dispose().catch(() => undefined)));
});

describe('recovery while the CSI controller is down', { timeout: 420_000 }, () => {
  it('brings the replacement pod of a terminated instance Running with its volume once the controller is back, with no fight', async () => {
    const run = await deathAndRecovery(clusters, {
      death: 'terminated',
      cloudNodeLifecycle: true,
      csiOutage: { seconds: 15, switchTo: switchCsiControllerTo },
    });

    expect(actionsDone(run.deliveries, 'delete-pod').map((a) => a.pod)).toEqual([
      `${run.cluster.namespace}/${run.replica.podName}`,
    ]);
    expect(run.timeline).toMatchObject({
      recovered: true,
      volumeAttachmentsRecreated: 0,
      reattachmentsToDeadInstance: 0,
    });
    expect(run.timeline.replacementNode).not.toBe(run.before.deadNode.nodeName);
    expect(await run.cluster.isRunningWithVolume(run.other)).toBe(true);
  });
});
