import { createHash } from 'node:crypto';

/** The attacher of CSI EBS volumes, and of in-tree `kubernetes.io/aws-ebs` volumes migrated to CSI. */
export const ebsCsiAttacher = 'ebs.csi.aws.com';

/** The finalizer the external-attacher puts on the VolumeAttachments it handles. */
export const ebsCsiAttacherFinalizer = 'external-attacher/ebs-csi-aws-com';

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
