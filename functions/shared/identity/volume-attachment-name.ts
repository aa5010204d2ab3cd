import { createHash } from 'node:crypto';
import {
  attacherFinalizerPrefix,
  ebsAttachers as ebsAttacherNames,
  ebsCsiAttacher,
} from '../contract/kubernetes-identity.ts';

const ebsAttachers: ReadonlySet<string> = new Set(ebsAttacherNames);

/** Whether a CSI driver (a VolumeAttachment's attacher, a PV's driver) attaches EBS volumes. */
export function isEbsAttacher(driver: string | undefined): boolean {
  return driver !== undefined && ebsAttachers.has(driver);
}

/**
 * The finalizer the external-attacher puts on the VolumeAttachments of a driver:
 * `external-attacher/` and the driver's name with its dots as dashes.
 */
export function attacherFinalizerOf(attacher: string): string {
  return `${attacherFinalizerPrefix}${attacher.replaceAll('.', '-')}`;
}

/** The finalizer the external-attacher puts on the VolumeAttachments it handles. */
export const ebsCsiAttacherFinalizer = attacherFinalizerOf(ebsCsiAttacher);

/**
 * The name Kubernetes gives the VolumeAttachment of a CSI volume on a node:
 * `csi-<sha256 of volumeHandle + attacher + nodeName>` (kubernetes pkg/volume/csi, `getAttachmentName`).
 */
export function volumeAttachmentName(
  volumeHandle: string,
  attacher: string,
  nodeName: string,
): string {
  const digest = createHash('sha256').update(`${volumeHandle}${attacher}${nodeName}`).digest('hex');
  return `csi-${digest}`;
}
