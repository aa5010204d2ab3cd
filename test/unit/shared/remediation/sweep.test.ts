import { describe, expect, it } from 'vitest';
import type {
  AttachmentFacts,
  InstanceFacts,
  NodeFacts,
  VolumeFacts,
} from '../../../../functions/shared/remediation/facts.ts';
import type { Ec2Port, KubernetesPort } from '../../../../functions/shared/remediation/ports.ts';
import { sweepCluster } from '../../../../functions/shared/remediation/sweep.ts';

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
  const detached: string[] = [];
  const ec2: Ec2Port = {
    describeInstances: async (ids) =>
      new Map(
        ids.flatMap((id) => (instances.has(id) ? [[id, instances.get(id) as InstanceFacts]] : [])),
      ),
    describeVolumesAttachedTo: async (ids) =>
      [...volumes.values()].filter((v) => v.attachments.some((a) => ids.includes(a.instanceId))),
    describeVolumes: async (ids) =>
      ids.flatMap((id) => (volumes.has(id) ? [volumes.get(id) as VolumeFacts] : [])),
    async detachVolume(volumeId) {
      detached.push(volumeId);
      const volume = volumes.get(volumeId);
      if (volume) volumes.set(volumeId, { ...volume, attachments: [] });
      return 'detaching';
    },
  };
  const kube: KubernetesPort = {
    listNodes: async () => nodes,
    listVolumeAttachments: async () => attachments,
    readPersistentVolume: async (name) => ({ name, volumeReference: name.replace(/^pv-/, '') }),
    readVolumeAttachment: async () => undefined,
    deleteVolumeAttachment: async () => 'deleted',
    removeVolumeAttachmentFinalizer: async () => [],
    addNodeTaint: async () => undefined,
    removeNodeTaint: async () => undefined,
  };
  return { ec2, kube, detached };
}

const settings = {
  clusterName: 'prod',
  onStopped: 'remediate' as const,
  outOfServiceTaint: false,
  detachTimeoutMs: 1000,
  forceDetachTimeoutMs: 1000,
  attacherGraceMs: 0,
  dryRun: false,
};

describe('sweepCluster', () => {
  it('bounds the volumes one sweep detaches across its batches, and refuses the rest', async () => {
    const world = stoppedCluster(3, 2);

    const report = await sweepCluster(
      { ec2: world.ec2, kube: world.kube },
      { ...settings, maxVolumesPerInvocation: 3 },
      { batchSize: 1 },
    );

    expect(world.detached).toHaveLength(2);
    expect(report.instances.map((i) => i.outcome)).toEqual(['remediated', 'refused', 'refused']);
    expect(report.summary).toMatchObject({ volumesDetached: 2, refusals: 2 });
  });

  it('stops before a batch once its deadline has passed, and lists what it deferred', async () => {
    const world = stoppedCluster(4, 1);
    let tick = 0;

    const report = await sweepCluster(
      { ec2: world.ec2, kube: world.kube },
      { ...settings, maxVolumesPerInvocation: 50 },
      {
        batchSize: 2,
        deadline: 2,
        now: () => tick++,
      },
    );

    expect(report.complete).toBe(false);
    expect(report.instances).toHaveLength(2);
    expect(report.deferred).toEqual(['i-00000000000000002', 'i-00000000000000003']);
  });

  it('leaves stopped instances alone with ON_STOPPED=ignore', async () => {
    const world = stoppedCluster(2, 1);

    const report = await sweepCluster(
      { ec2: world.ec2, kube: world.kube },
      { ...settings, onStopped: 'ignore', maxVolumesPerInvocation: 50 },
    );

    expect(report.staleInstances).toBe(0);
    expect(world.detached).toEqual([]);
  });
});
