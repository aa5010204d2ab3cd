// Kubernetes on its own, on a real control plane (kube-controller-manager, kube-scheduler, the
// external-attacher, simulated kubelets, every timer at its default): first that a StatefulSet's
// volumes really move through the attach/detach controller and the attacher, then the failure the
// remediator exists for, asserted at its onset (its end comes 6 minutes later, or never).

import { afterAll, describe, expect, it } from 'vitest';
import { readEc2Log } from '#support/ec2-as-it-behaves/index.ts';
import { controlPlaneEc2Log, controlPlaneEndpoints } from '#support/environment.ts';
import { waitUntil } from '#support/processes.ts';
import {
  hasVolumeAttached,
  StatefulCluster,
  type StatefulClusterOptions,
  sleep,
} from '#support/stateful-cluster.ts';

const clusters: StatefulCluster[] = [];
afterAll(async () => {
  await Promise.all(clusters.map((c) => c.dispose().catch(() => undefined)));
});

async function startCluster(prefix: string, options: StatefulClusterOptions) {
  const cluster = await StatefulCluster.start(prefix, controlPlaneEndpoints(), options);
  clusters.push(cluster);
  return cluster;
}

function isNotReady(node: Awaited<ReturnType<StatefulCluster['node']>>): boolean {
  const ready = node?.status?.conditions?.find((c) => c.type === 'Ready');
  return ready !== undefined && ready.status !== 'True';
}

// Each test waits on Kubernetes' own timers (50 s to NotReady, PodGC's 40 s): they run at once.
describe.concurrent('Kubernetes alone, on a real control plane', { timeout: 300_000 }, () => {
  it('runs a StatefulSet with its volumes attached by the attach/detach controller and the external-attacher, and detaches them in EC2 when it scales down', async () => {
    const cluster = await startCluster('sts-basics', { replicas: 2, cloudNodeLifecycle: true });

    for (const replica of cluster.replicas) {
      const node = await cluster.nodeOf(replica);
      const attachments = await cluster.volumeAttachmentsOf(node.nodeName);
      expect([...attachments.values()]).toContain(replica.persistentVolumeName);
      const ec2Attach = readEc2Log(controlPlaneEc2Log()).filter(
        (e) => e.action === 'attach' && e.volumeId === replica.volumeId,
      );
      expect(ec2Attach.map((e) => e.instanceId)).toEqual([node.instanceId]);
    }
    const pods = await Promise.all(cluster.replicas.map((r) => cluster.nodeOf(r)));
    expect(new Set(pods.map((n) => n.nodeName)).size).toBe(cluster.replicas.length);

    await cluster.scale(0);

    await waitUntil(
      'every volume of the scaled-down StatefulSet detached in EC2',
      async () => {
        const volumes = await Promise.all(
          cluster.replicas.map((r) => cluster.volumeState(r.volumeId)),
        );
        return volumes.every((v) => v.state === 'available');
      },
      90_000,
      500,
    );
  });

  it('leaves the replacement pod of a terminated node with a Multi-Attach error once the cloud node lifecycle deleted the Node', async () => {
    const cluster = await startCluster('alone-terminated', {
      replicas: 2,
      cloudNodeLifecycle: true,
    });
    const [replica] = cluster.replicas;
    if (!replica) throw new Error('no replica');
    const deadNode = await cluster.nodeOf(replica);
    const oldUid = (await cluster.pod(replica))?.metadata?.uid;

    await cluster.terminateInstance(deadNode);

    let multiAttach: { message: string; uid: string } | undefined;
    await waitUntil(
      'a Multi-Attach error on the replacement pod',
      async () => {
        const events = await cluster.eventsAbout(replica.podName);
        multiAttach = events.find(
          (e) => e.message.includes('Multi-Attach error') && e.uid !== oldUid,
        );
        return multiAttach !== undefined;
      },
      240_000,
      1_000,
    );
    const replacement = await cluster.pod(replica);
    expect(replacement?.metadata?.uid).not.toBe(oldUid);
    expect(replacement?.spec?.nodeName).not.toBe(deadNode.nodeName);
    expect(replacement?.status?.phase).toBe('Pending');
    expect(await cluster.node(deadNode.nodeName)).toBeUndefined();
    // The dead node's VolumeAttachment still holds the volume: the 6-minute wait has begun.
    expect([...(await cluster.volumeAttachmentsOf(deadNode.nodeName)).values()]).toContain(
      replica.persistentVolumeName,
    );
  });

  it.each([
    { death: 'stopped', cloudNodeLifecycle: true },
    { death: 'terminated', cloudNodeLifecycle: false },
  ] as const)(
    'keeps the pod of a $death instance bound to its NotReady Node with no replacement (cloud node lifecycle: $cloudNodeLifecycle)',
    async ({ death, cloudNodeLifecycle }) => {
      const cluster = await startCluster(`alone-${death}`, { replicas: 2, cloudNodeLifecycle });
      const [replica] = cluster.replicas;
      if (!replica) throw new Error('no replica');
      const deadNode = await cluster.nodeOf(replica);
      const oldUid = (await cluster.pod(replica))?.metadata?.uid;

      if (death === 'stopped') await cluster.stopInstance(deadNode);
      else await cluster.terminateInstance(deadNode);

      await waitUntil(
        `the node lifecycle controller marking ${deadNode.nodeName} NotReady`,
        async () => isNotReady(await cluster.node(deadNode.nodeName)),
        120_000,
        1_000,
      );
      await sleep(15_000);

      const pod = await cluster.pod(replica);
      expect(pod?.metadata?.uid).toBe(oldUid);
      expect(pod?.spec?.nodeName).toBe(deadNode.nodeName);
      expect(await cluster.node(deadNode.nodeName)).toBeDefined();
      const node = await cluster.node(deadNode.nodeName);
      expect(hasVolumeAttached(node, replica.volumeId)).toBe(true);
      if (death === 'stopped') {
        // EC2 keeps a stopped instance's volumes attached until someone detaches them.
        expect((await cluster.volumeState(replica.volumeId)).attachedTo).toEqual([
          deadNode.instanceId,
        ]);
      }
    },
  );
});
