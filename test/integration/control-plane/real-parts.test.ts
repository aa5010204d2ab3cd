// The real parts of the control plane, not stand-ins: the CSI controller is the real EBS CSI
// driver (its own log names its release and the attach it made for this test's volume, and the
// device it chose is the one EC2 holds the volume under); the cloud node lifecycle is the real
// AWS cloud-controller-manager (its Events on the Node), on in the clusters that have one and
// kept away from those that have none.
import { readFileSync } from 'node:fs';
import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { type CoreV1Event, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ebsCsiDriverVersion, kubernetesRelease } from '#support/control-plane.ts';
import { controlPlaneEndpoints } from '#support/environment.ts';
import { waitUntil } from '#support/processes.ts';
import { StatefulCluster } from '#support/stateful-cluster.ts';

describe.concurrent('the real parts of the control plane', () => {
  const clusters: StatefulCluster[] = [];
  afterAll(() => Promise.all(clusters.map((c) => c.dispose().catch(() => undefined))));

  it('is the Kubernetes release it was built from (KUBERNETES_VERSION picks the minor)', async () => {
    const admin = new KubeConfig();
    admin.loadFromFile(controlPlaneEndpoints().adminKubeconfig);

    const version = await admin.makeApiClient(VersionApi).getCode();

    expect(version.gitVersion).toBe(kubernetesRelease());
  });

  it('attaches through the real EBS CSI driver', { timeout: 180_000 }, async () => {
    const cluster = await StatefulCluster.start('real-driver', controlPlaneEndpoints(), {
      replicas: 1,
      cloudNodeLifecycle: true,
    });
    clusters.push(cluster);
    const [replica] = cluster.replicas;
    if (!replica) throw new Error('the StatefulSet has no replica');
    const node = await cluster.nodeOf(replica);

    const log = readFileSync(inject('controlPlane').csiControllerLog, 'utf8');
    expect(log).toContain(
      `"Driver Information" Driver="ebs.csi.aws.com" Version="${ebsCsiDriverVersion}"`,
    );
    expect(log).toMatch(
      new RegExp(
        `"ControllerPublishVolume: attached" volumeID="${replica.volumeId}" nodeID="${node.instanceId}" devicePath="/dev/xvd[a-z]{2}"`,
      ),
    );

    const attachments = await cluster.storage.listVolumeAttachment();
    const attachment = attachments.items.find(
      (a) => a.spec.source.persistentVolumeName === replica.persistentVolumeName,
    );
    const devicePath = attachment?.status?.attachmentMetadata?.devicePath;
    const volume = await cluster.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: [replica.volumeId] }),
    );
    expect(volume.Volumes?.[0]?.Attachments).toEqual([
      expect.objectContaining({
        InstanceId: node.instanceId,
        Device: devicePath,
        State: 'attached',
      }),
    ]);
  });
});

describe.concurrent('the real AWS cloud-controller-manager', () => {
  const clusters: StatefulCluster[] = [];
  afterAll(() => Promise.all(clusters.map((c) => c.dispose().catch(() => undefined))));

  /** The cloud node lifecycle controller's Events about a Node. */
  async function lifecycleEvents(cluster: StatefulCluster, nodeName: string) {
    const events = await cluster.core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: `involvedObject.kind=Node,involvedObject.name=${nodeName}`,
    });
    return events.items.filter(
      (e: CoreV1Event) => e.source?.component === 'cloud-node-lifecycle-controller',
    );
  }

  it.each([
    { cloudNodeLifecycle: true, expected: 'deletes' },
    { cloudNodeLifecycle: false, expected: 'leaves' },
  ])(
    '$expected the Node of a terminated instance where the cluster has a cloud node lifecycle: $cloudNodeLifecycle',
    { timeout: 240_000 },
    async ({ cloudNodeLifecycle }) => {
      const cluster = await StatefulCluster.start('real-ccm', controlPlaneEndpoints(), {
        replicas: 1,
        cloudNodeLifecycle,
      });
      clusters.push(cluster);
      const [replica] = cluster.replicas;
      if (!replica) throw new Error('the StatefulSet has no replica');
      const busy = await cluster.nodeOf(replica);
      const spare = cluster.nodes.find((n) => n.nodeName !== busy.nodeName);
      if (!spare) throw new Error('the cluster has no spare node');

      await cluster.terminateInstance(spare);
      // NotReady after the node monitor grace period (50 s), then the next check (5 s); where
      // the cluster has no cloud node lifecycle, the admission policy turns the delete down.
      const outcome = cloudNodeLifecycle ? 'DeletingNode' : 'DeletingNodeFailed';
      await waitUntil(
        `the cloud node lifecycle controller acting on ${spare.nodeName}`,
        async () =>
          (await lifecycleEvents(cluster, spare.nodeName)).some((e) => e.reason === outcome),
        150_000,
        2_000,
      );
      if (cloudNodeLifecycle) {
        await waitUntil(
          `${spare.nodeName} deleted`,
          async () => (await cluster.node(spare.nodeName)) === undefined,
          10_000,
        );
      } else {
        const failed = (await lifecycleEvents(cluster, spare.nodeName)).find(
          (e) => e.reason === outcome,
        );
        expect(failed?.message).toContain('runs no cloud node lifecycle');
        expect(await cluster.node(spare.nodeName)).toBeDefined();
      }
    },
  );
});
