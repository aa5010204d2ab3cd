import { mapConcurrently } from '../concurrency.ts';
import {
  type AttachmentFacts,
  type InstanceFacts,
  instanceAsReported,
  type NodeFacts,
} from './facts.ts';
import {
  attachmentsOfInstance,
  type MappedAttachment,
  nodeNameOfInstance,
  nodeOfInstance,
  type Observation,
  volumeIdOf,
} from './plan.ts';
import type { Ec2Port, KubernetesPort } from './ports.ts';

/**
 * Nodes and VolumeAttachments listed a moment ago, which a sweep reuses for each batch of
 * instances instead of listing the whole cluster again. EC2 is always asked afresh: the
 * instance state must be current at action time.
 */
export interface KubernetesSnapshot {
  readonly nodes: readonly NodeFacts[];
  readonly attachments: readonly AttachmentFacts[];
}

/** How many PersistentVolumes are read at once. */
const persistentVolumeReadConcurrency = 10;

/** How many Nodes' pods are listed at once. */
const podListConcurrency = 10;

/** States in which an instance's Node is dead for good: its pods are looked at. */
const deadStates = new Set(['stopped', 'terminated', 'gone']);

/**
 * Observes these instances in both systems: one DescribeInstances and one DescribeVolumes per
 * 200 instances, one list of Nodes and one of VolumeAttachments, whatever their number; then
 * one read per PersistentVolume involved and one list of pods per dead instance's Node.
 */
export async function observeInstances(
  instanceIds: readonly string[],
  ec2: Ec2Port,
  kube: KubernetesPort,
  kubernetesSnapshot?: KubernetesSnapshot,
  described?: ReadonlyMap<string, InstanceFacts>,
): Promise<{ observations: Observation[]; nodes: readonly NodeFacts[] }> {
  const [instances, nodes, attachments, volumesInEc2, region] = await Promise.all([
    described ?? ec2.describeInstances(instanceIds),
    kubernetesSnapshot?.nodes ?? kube.listNodes(),
    kubernetesSnapshot?.attachments ?? kube.listVolumeAttachments(),
    ec2.describeVolumesAttachedTo(instanceIds),
    ec2.region(),
  ]);

  const perInstance = await mapConcurrently(instanceIds, podListConcurrency, async (instanceId) => {
    const instance = instanceAsReported(instances, instanceId);
    const node = nodeOfInstance(nodes, instanceId);
    const nodeName = nodeNameOfInstance(nodes, instance);
    const own = attachmentsOfInstance(attachments, instanceId, nodeName);
    // The pods of a Node whose instance is off: what PodGC would delete, and what keeps the
    // attach/detach controller attaching their volumes to it.
    const pods =
      nodeName && deadStates.has(instance.state) ? await kube.listPodsOnNode(nodeName) : [];
    return { instance, node, own, pods };
  });

  const pvNames = [
    ...new Set(
      perInstance.flatMap(({ own }) =>
        own.flatMap((a) => (a.persistentVolumeName ? [a.persistentVolumeName] : [])),
      ),
    ),
  ];
  const pvs = await mapConcurrently(pvNames, persistentVolumeReadConcurrency, (name) =>
    kube.readPersistentVolume(name),
  );
  const referenceOf = new Map(pvs.flatMap((pv) => (pv ? [[pv.name, pv.volumeReference]] : [])));

  const observations = perInstance.map(({ instance, node, own, pods }) => ({
    pods,
    instance,
    region,
    ...(node ? { node } : {}),
    attachments: own.map((attachment): MappedAttachment => {
      const reference = attachment.persistentVolumeName
        ? referenceOf.get(attachment.persistentVolumeName)
        : undefined;
      const volumeId = volumeIdOf(attachment, reference);
      return volumeId ? { attachment, volumeId } : { attachment };
    }),
    volumesInEc2: volumesInEc2.filter((v) =>
      v.attachments.some((a) => a.instanceId === instance.instanceId),
    ),
  }));
  return { observations, nodes };
}
