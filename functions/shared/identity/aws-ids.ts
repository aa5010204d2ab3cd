/**
 * Parsing of the ways Kubernetes objects name EC2 instances and EBS volumes. Pure functions:
 * an id that does not parse is `undefined`, never a guess, because a wrong id here would mean
 * detaching a volume that is not ours.
 */

import { awsScheme } from '../contract/kubernetes-identity.ts';

const instanceIdPattern = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const volumeIdPattern = /^vol-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

export function isInstanceId(value: string): boolean {
  return instanceIdPattern.test(value);
}

export function isVolumeId(value: string): boolean {
  return volumeIdPattern.test(value);
}

/**
 * The instance id in a Node's `spec.providerID`, which the AWS cloud provider writes as
 * `aws:///<zone>/<instance-id>` (older clusters: `aws://<zone>/<instance-id>`).
 */
export function instanceIdFromProviderId(providerId: string | undefined): string | undefined {
  if (!providerId?.startsWith(awsScheme)) return undefined;
  const last = providerId.slice(awsScheme.length).split('/').pop() ?? '';
  return isInstanceId(last) ? last : undefined;
}

/** The `spec.providerID` the AWS cloud provider gives the Node of an instance. */
export function providerIdFor(zone: string, instanceId: string): string {
  return `${awsScheme}/${zone}/${instanceId}`;
}

/**
 * The EBS volume id in a CSI `volumeHandle` or an in-tree `awsElasticBlockStore.volumeID`, which
 * comes as `aws://<zone>/vol-...`, `aws:///vol-...` or a bare `vol-...`.
 */
export function parseEbsVolumeId(reference: string | undefined): string | undefined {
  if (!reference) return undefined;
  const candidate = reference.startsWith(awsScheme)
    ? (reference.slice(awsScheme.length).split('/').pop() ?? '')
    : reference;
  return isVolumeId(candidate) ? candidate : undefined;
}
