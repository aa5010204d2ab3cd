import { mapConcurrently } from '../util/concurrency.ts';
import {
  type AttachmentFacts,
  type InstanceFacts,
  instanceAsReported,
  type MappedAttachment,
  type NodeFacts,
  type Observation,
} from './facts.ts';
import {
  attachmentsOfInstance,
  nodeNameOfInstance,
  nodeOfInstance,
  volumeIdOf,
} from './matching.ts';
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

/**
 * How many PersistentVolumes are read at once: all of one node's (a Nitro instance takes at most
 * 27 or so EBS volumes) in one round trip, since the first action waits for them.
 */
const persistentVolumeReadConcurrency = 32;

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
  diedAt?: ReadonlyMap<string, number>,
): Promise<{ observations: Observation[]; nodes: readonly NodeFacts[] }> {
  const [instances, nodes, attachments, volumesInEc2, region] = await Promise.all([
    described ?? ec2.describeInstances(instanceIds),
    kubernetesSnapshot?.nodes ?? kube.listNodes(),
    kubernetesSnapshot?.attachments ?? kube.listVolumeAttachments(),
    ec2.describeVolumesAttachedTo(instanceIds),
    ec2.region(),
  ]);

  const perInstance = instanceIds.map((instanceId) => {
    const instance = instanceAsReported(instances, instanceId);
    const node = nodeOfInstance(nodes, instanceId);
    const nodeName = nodeNameOfInstance(nodes, instance, attachments);
    return {
      instance,
      node,
      nodeName,
      own: attachmentsOfInstance(attachments, instanceId, nodeName),
    };
  });
  const deadIds = perInstance
    .filter(({ instance }) => deadStates.has(instance.state))
    .map(({ instance }) => instance.instanceId);
  const pvNames = [
    ...new Set(
      perInstance.flatMap(({ own }) =>
        own.flatMap((a) => (a.persistentVolumeName ? [a.persistentVolumeName] : [])),
      ),
    ),
  ];
  // The pods and the PersistentVolumes together: both follow from the lists alone, and each
  // round trip saved comes before the first action. Instances described before the lists (an
  // event's screening) are described again alongside: the plan and the taint right after it
  // then act on EC2's word of a moment ago, without a round trip of their own.
  const [podsPerInstance, leaseRenewals, pvs, current] = await Promise.all([
    mapConcurrently(perInstance, podListConcurrency, ({ instance, nodeName }) =>
      // The pods of a Node whose instance is off: what PodGC would delete, and what keeps the
      // attach/detach controller attaching their volumes to it.
      nodeName && deadStates.has(instance.state)
        ? kube.listPodsOnNode(nodeName)
        : Promise.resolve([]),
    ),
    // Whether a kubelet still reports on a dead instance's Node: one that took its name over.
    mapConcurrently(perInstance, podListConcurrency, ({ instance, node }) =>
      node && deadStates.has(instance.state)
        ? kube.readNodeLeaseRenewal(node.name)
        : Promise.resolve(undefined),
    ),
    mapConcurrently(pvNames, persistentVolumeReadConcurrency, (name) =>
      kube.readPersistentVolume(name),
    ),
    // Only the dead ones: no other is tainted, and a shutting-down one is refused on either reading.
    described && deadIds.length > 0
      ? ec2.describeInstances(deadIds)
      : new Map<string, InstanceFacts>(),
  ]);
  const pvOf = new Map(pvs.flatMap((pv) => (pv ? [[pv.name, pv]] : [])));
  const observedAt = Date.now();

  const observations = perInstance.map(({ instance, node, own }, index): Observation => {
    const renewed = leaseRenewals[index];
    const died = diedAt?.get(instance.instanceId);
    return {
      pods: podsPerInstance[index] ?? [],
      // An instance not read again (alive at the first reading) is planned on the reading its
      // pods were not listed with: one that died since is left to its next event.
      instance: current.get(instance.instanceId) ?? instance,
      region,
      observedAt,
      ...(died === undefined ? {} : { diedAt: died }),
      ...(node
        ? { node: renewed === undefined ? node : { ...node, leaseRenewedAt: renewed } }
        : {}),
      attachments: own.map((attachment): MappedAttachment => {
        const pv = attachment.persistentVolumeName
          ? pvOf.get(attachment.persistentVolumeName)
          : undefined;
        const volumeId = volumeIdOf(attachment, pv?.volumeReference);
        return {
          attachment,
          ...(volumeId ? { volumeId } : {}),
          ...(pv?.claim ? { claim: pv.claim } : {}),
        };
      }),
      volumesInEc2: volumesInEc2.filter((v) =>
        v.attachments.some((a) => a.instanceId === instance.instanceId),
      ),
    };
  });
  return { observations, nodes };
}
