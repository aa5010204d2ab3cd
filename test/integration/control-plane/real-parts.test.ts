// The control plane's CSI controller is the real EBS CSI driver (not a stand-in): its own log
// names its release and the attach it made for this test's volume, and the device it chose
// (its device manager's names) is the one EC2 holds the volume under.
import { readFileSync } from 'node:fs';
import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ebsCsiDriverVersion } from '../../support/control-plane.ts';
import { controlPlaneEndpoints } from '../../support/environment.ts';
import { StatefulCluster } from '../../support/stateful-cluster.ts';

describe('the real parts of the control plane', () => {
  let cluster: StatefulCluster | undefined;
  afterAll(() => cluster?.dispose());

  it('attaches through the real EBS CSI driver', { timeout: 180_000 }, async () => {
    cluster = await StatefulCluster.start('real-driver', controlPlaneEndpoints(), {
      replicas: 1,
      cloudNodeLifecycle: true,
    });
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
