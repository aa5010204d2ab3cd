/**
 * How objects of the cluster are tied to an instance and its volumes: pure functions over what
 * was observed. A tie that does not hold is none, never a guess: a wrong tie would act on a live
 * node's pods or volumes.
 */
import { instanceIdFromProviderId, isInstanceId, parseEbsVolumeId } from '../identity/aws-ids.ts';
import { isEbsAttacher } from '../identity/volume-attachment-name.ts';
import type { AttachmentFacts, InstanceFacts, NodeFacts, VolumeFacts } from './facts.ts';

/** The zone in a providerID aws:///<zone>/<instance-id>, when it names one. */
export function zoneOfProviderId(providerId: string | undefined): string | undefined {
  const match = /^aws:\/\/\/([a-z0-9-]+)\/i-[0-9a-f]+$/.exec(providerId ?? '');
  return match?.[1];
}

/** Whether an Availability Zone, Local Zone or Wavelength Zone belongs to the Region. */
export function zoneInRegion(zone: string, region: string): boolean {
  return zone.startsWith(region) && /^[a-z-]/.test(zone.slice(region.length));
}

/** Whether a tag set ties an instance or volume to the cluster. */
export function taggedForCluster(tags: Readonly<Record<string, string>>, clusterName: string) {
  return (
    `kubernetes.io/cluster/${clusterName}` in tags ||
    tags['eks:cluster-name'] === clusterName ||
    tags.KubernetesCluster === clusterName
  );
}

/** The Node of an instance, by the instance id in its providerID. */
export function nodeOfInstance(nodes: readonly NodeFacts[], instanceId: string) {
  return nodes.find((node) => instanceIdFromProviderId(node.providerId) === instanceId);
}

/**
 * The name of the instance's Node: its Node's, or, when the Node is gone, the node name of the
 * VolumeAttachments the attacher made for the instance (a terminated instance keeps no private
 * DNS name in EC2), else the instance's private DNS name. Names repeat (across VPCs, and EC2
 * reuses private IPs), so a fallback holds only while no other instance's Node bears the name:
 * otherwise a dead stranger that shares a live node's name would take that node's pods and
 * attachments with it.
 */
export function nodeNameOfInstance(
  nodes: readonly NodeFacts[],
  instance: InstanceFacts,
  attachments: readonly AttachmentFacts[] = [],
): string | undefined {
  const node = nodeOfInstance(nodes, instance.instanceId);
  if (node) return node.name;
  const attached = new Set(
    attachments
      .filter((a) => isEbsAttacher(a.attacher) && a.nodeIdAnnotation === instance.instanceId)
      .map((a) => a.nodeName),
  );
  const name = attached.size === 1 ? [...attached][0] : instance.privateDnsName;
  return name && !nodes.some((n) => n.name === name) ? name : undefined;
}

/**
 * The EBS CSI VolumeAttachments that bind a volume to the instance: by node name (the Node's, or
 * the instance's private DNS name when the Node is gone) or by the node-id annotation.
 */
export function attachmentsOfInstance(
  attachments: readonly AttachmentFacts[],
  instanceId: string,
  nodeName: string | undefined,
): AttachmentFacts[] {
  return attachments.filter(
    (a) =>
      isEbsAttacher(a.attacher) &&
      (a.nodeIdAnnotation === instanceId ||
        // The attacher names the instance it attached to: one that names another instance
        // under this node name was made for the instance that took the name over.
        (nodeName !== undefined &&
          a.nodeName === nodeName &&
          !(a.nodeIdAnnotation && isInstanceId(a.nodeIdAnnotation)))),
  );
}

/** The EBS volume id of a VolumeAttachment, from its PV's reference or its inline spec. */
export function volumeIdOf(
  attachment: AttachmentFacts,
  persistentVolumeReference: string | undefined,
): string | undefined {
  return parseEbsVolumeId(persistentVolumeReference ?? attachment.inlineVolumeReference);
}

/** Whether EC2 holds the volume on the instance (in any state but detached). */
export function holdsVolume(volume: VolumeFacts, instanceId: string): boolean {
  return volume.attachments.some((a) => a.instanceId === instanceId && a.state !== 'detached');
}
