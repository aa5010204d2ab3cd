import { describe, expect, it } from 'vitest';
import { ebsCsiAttacher } from '#functions/shared/contract/kubernetes-identity.ts';
import {
  attacherFinalizerOf,
  isEbsAttacher,
  volumeAttachmentName,
} from '#functions/shared/identity/volume-attachment-name.ts';

describe('volumeAttachmentName', () => {
  it('matches the name Kubernetes derives from volume handle, attacher and node name', () => {
    // Expected value computed independently:
    // printf '%s' 'vol-0123456789abcdef0ebs.csi.aws.comip-10-0-1-23.ec2.internal' | sha256sum
    expect(
      volumeAttachmentName('vol-0123456789abcdef0', ebsCsiAttacher, 'ip-10-0-1-23.ec2.internal'),
    ).toBe('csi-880af19cc88681d68f80a4a11ffa3d31efb3ee865ea742d7701040e168882925');
  });

  it('gives another name on another node', () => {
    const onFirst = volumeAttachmentName('vol-0123456789abcdef0', ebsCsiAttacher, 'node-a');
    const onSecond = volumeAttachmentName('vol-0123456789abcdef0', ebsCsiAttacher, 'node-b');
    expect(onFirst).not.toBe(onSecond);
  });
});

describe('the EBS attachers', () => {
  it.each([
    ['ebs.csi.aws.com', true, 'external-attacher/ebs-csi-aws-com'],
    ['ebs.csi.eks.amazonaws.com', true, 'external-attacher/ebs-csi-eks-amazonaws-com'],
    ['efs.csi.aws.com', false, 'external-attacher/efs-csi-aws-com'],
  ])('%s is an EBS attacher: %s; its finalizer is %s', (driver, ebs, finalizer) => {
    expect(isEbsAttacher(driver)).toBe(ebs);
    expect(attacherFinalizerOf(driver)).toBe(finalizer);
  });
});
