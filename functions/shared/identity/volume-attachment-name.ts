import { createHash } from 'node:crypto';

/** The attacher of CSI EBS volumes, and of in-tree `kubernetes.io/aws-ebs` volumes migrated to CSI. */
export const ebsCsiAttacher = 'ebs.csi.aws.com';

/** EKS Auto Mode's EBS driver: its StorageClasses name it as provisioner. */
export const eksAutoModeEbsAttacher = 'ebs.csi.eks.amazonaws.com';

const ebsAttachers: ReadonlySet<string> = new Set([ebsCsiAttacher, eksAutoModeEbsAttacher]);

/** Whether a CSI driver (a VolumeAttachment's attacher, a PV's driver) attaches EBS volumes. */
export function isEbsAttacher(driver: string | undefined): boolean {
  return driver !== undefined && ebsAttachers.has(driver);
}

/**
 * The finalizer the external-attacher puts on the VolumeAttachments of a driver:
 * `external-attacher/` and the driver's name with its dots as dashes.
 */
export function attacherFinalizerOf(attacher: string): string {
  return `external-attacher/${attacher.replaceAll('.', '-')}`;
}

/** The finalizer the external-attacher puts on the VolumeAttachments it handles. */
export const ebsCsiAttacherFinalizer = attacherFinalizerOf(ebsCsiAttacher);

/** The annotation in which the external-attacher records the CSI node id: the instance id. */
export const csiNodeIdAnnotation = 'csi.alpha.kubernetes.io/node-id';

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
