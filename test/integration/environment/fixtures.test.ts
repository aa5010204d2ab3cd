import { DescribeTagsCommand } from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, it } from 'vitest';
import {
  csiNodeIdAnnotation,
  ebsCsiAttacher,
} from '#functions/shared/contract/kubernetes-identity.ts';
import {
  ebsCsiAttacherFinalizer,
  volumeAttachmentName,
} from '#functions/shared/identity/volume-attachment-name.ts';
import { endpoints } from '#support/environment.ts';
import { TestCluster } from '#support/fixtures.ts';

describe('the cluster fixtures', () => {
  const cluster = TestCluster.create('fixtures', endpoints());
  afterAll(() => cluster.dispose());

  it('registers a Node named after the instance private DNS name, with its providerID', async () => {
    const node = await cluster.addNode({ zone: 'us-east-1b' });

    const registered = await cluster.core.readNode({ name: node.nodeName });
    expect(registered.spec?.providerID).toBe(`aws:///us-east-1b/${node.instanceId}`);
    expect(node.nodeName).toMatch(/^ip-[0-9-]+\.ec2\.internal$/);
    expect(await cluster.instanceState(node.instanceId)).toBe('running');
  });

  it('tags the instance for the cluster', async () => {
    const node = await cluster.addNode();

    const tags = await cluster.ec2.send(
      new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [node.instanceId] }] }),
    );
    expect(tags.Tags).toContainEqual(
      expect.objectContaining({ Key: `kubernetes.io/cluster/${cluster.name}`, Value: 'owned' }),
    );
  });

  it('leaves a CSI volume attachment the way the external-attacher does', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node, { provisioner: 'csi' });

    const attachment = await cluster.storage.readVolumeAttachment({
      name: volume.volumeAttachmentName,
    });
    expect(attachment.metadata?.name).toBe(
      volumeAttachmentName(volume.volumeId, ebsCsiAttacher, node.nodeName),
    );
    expect(attachment.metadata?.finalizers).toEqual([ebsCsiAttacherFinalizer]);
    expect(attachment.metadata?.annotations?.[csiNodeIdAnnotation]).toBe(node.instanceId);
    expect(attachment.spec).toMatchObject({
      attacher: ebsCsiAttacher,
      nodeName: node.nodeName,
      source: { persistentVolumeName: volume.persistentVolumeName },
    });
    expect(attachment.status?.attached).toBe(true);
    const pv = await cluster.core.readPersistentVolume({ name: volume.persistentVolumeName });
    expect(pv.spec?.csi?.volumeHandle).toBe(volume.volumeId);
  });

  it('records an in-tree volume with its volumeID in the aws://<zone>/vol-... form', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node, { provisioner: 'in-tree' });

    const pv = await cluster.core.readPersistentVolume({ name: volume.persistentVolumeName });
    expect(pv.spec?.awsElasticBlockStore?.volumeID).toBe(`aws://${node.zone}/${volume.volumeId}`);
  });
});
