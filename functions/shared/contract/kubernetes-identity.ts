/**
 * How Kubernetes and the EBS CSI driver name what the remediator looks for: the names it matches
 * objects by. Read by the functions, the construct, the test clusters and the benchmarks, so
 * that they cannot drift apart. Constants only.
 */

/** The Kubernetes group infra/kubernetes/rbac.yaml binds; the EKS access entry maps the role to it. */
export const kubernetesGroup = 'ebs-volume-remediator';

/** The attacher of CSI EBS volumes, and of in-tree `kubernetes.io/aws-ebs` volumes migrated to CSI. */
export const ebsCsiAttacher = 'ebs.csi.aws.com';

/** EKS Auto Mode's EBS driver: its StorageClasses name it as provisioner. */
export const eksAutoModeEbsAttacher = 'ebs.csi.eks.amazonaws.com';

/** Every driver that attaches EBS volumes. */
export const ebsAttachers: readonly string[] = [ebsCsiAttacher, eksAutoModeEbsAttacher];

/**
 * The prefix of the finalizer the external-attacher puts on the VolumeAttachments of a driver:
 * it is followed by the driver's name with its dots as dashes.
 */
export const attacherFinalizerPrefix = 'external-attacher/';

/** The annotation in which the external-attacher records the CSI node id: the instance id. */
export const csiNodeIdAnnotation = 'csi.alpha.kubernetes.io/node-id';

/**
 * The scheme of the AWS cloud provider's `spec.providerID` (`aws:///<zone>/<instance-id>`; older
 * clusters `aws://<zone>/<instance-id>`) and of an in-tree volume id (`aws://<zone>/vol-...`).
 * A CSI volume handle is the bare `vol-...`.
 */
export const awsScheme = 'aws://';

/** The taint of Kubernetes non-graceful node shutdown (KEP-2268). */
export const outOfServiceTaintKey = 'node.kubernetes.io/out-of-service';

/** The value of the out-of-service taint this project adds: it marks the taint as ours. */
export const outOfServiceTaintValue = 'ebs-volume-remediator';

/** The namespace of the kubelets' Leases. */
export const nodeLeaseNamespace = 'kube-node-lease';

/** The reason the taint-eviction controller gives the pod's DisruptionTarget condition before its delete. */
export const taintEvictionReason = 'DeletionByTaintManager';

/** A Node annotated with this set to "false" is never fenced, however hung it looks. */
export const fenceOptOutAnnotation = 'ebs-volume-remediator/fence';

/**
 * The labels of a control-plane Node (kubeadm's, and its older name): never fenced, since its
 * loss is the cluster's and not a node's.
 */
export const controlPlaneLabels: readonly string[] = [
  'node-role.kubernetes.io/control-plane',
  'node-role.kubernetes.io/master',
];
