/**
 * What the functions may do in AWS and in the cluster: the least-privilege IAM policy, the
 * lifecycle hook's calls, and the EKS access entry that maps the role to the Kubernetes group
 * infra/kubernetes/rbac.yaml binds.
 */
import { ArnFormat, aws_eks as eks, aws_iam as iam, Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { kubernetesGroup } from '../functions/shared/contract/kubernetes-identity.ts';
import { acknowledgeAutoScalingGroupArns } from './nag-suppressions.ts';
import type { EbsVolumeRemediatorProps, LifecycleHookProps } from './props.ts';

/**
 * Least privilege. DetachVolume is authorized against both the volume and the instance, and a
 * statement's tag condition must hold for every resource it names, so each resource type gets
 * its own statements (statements are ORed). The instance must carry one of the tags that tie
 * it to the cluster. The volume is not held to a tag: static and restored PersistentVolumes
 * often have none, and a tag would not make a volume the cluster's anyway (Karpenter copies
 * cluster tags onto node volumes); the function detaches only the volumes a PersistentVolume
 * or VolumeAttachment of the cluster names, from this cluster's instances (as the EBS CSI
 * driver's example policy allows DetachVolume on any volume of the instances it may use).
 */
export function grantRemediation(
  scope: Construct,
  role: iam.Role,
  props: EbsVolumeRemediatorProps,
  eksClusterName: string | undefined,
): void {
  const { clusterName } = props;
  const stack = Stack.of(scope);
  const arn = (resource: string) =>
    stack.formatArn({ service: 'ec2', resource, resourceName: '*' });
  const detach = (sid: string, resource: string, tagKey: string, values: string[]) =>
    new iam.PolicyStatement({
      sid,
      actions: ['ec2:DetachVolume'],
      resources: [arn(resource)],
      conditions: { StringEquals: { [`aws:ResourceTag/${tagKey}`]: values } },
    });
  const clusterTag = `kubernetes.io/cluster/${clusterName}`;
  const statements = [
    new iam.PolicyStatement({
      sid: 'DescribeInstancesAndVolumes',
      // These actions support no resource-level scoping: IAM requires "*" here.
      // DescribeInstanceStatus is the sweep's screening of many instances (states only).
      actions: ['ec2:DescribeInstances', 'ec2:DescribeInstanceStatus', 'ec2:DescribeVolumes'],
      resources: ['*'],
    }),
    detach('DetachFromClusterInstances', 'instance', clusterTag, ['owned', 'shared']),
    detach('DetachFromEksManagedInstances', 'instance', 'eks:cluster-name', [clusterName]),
    detach('DetachFromLegacyTaggedInstances', 'instance', 'KubernetesCluster', [clusterName]),
    new iam.PolicyStatement({
      sid: 'DetachVolumesOfClusterInstances',
      actions: ['ec2:DetachVolume'],
      resources: [arn('volume')],
    }),
    ...clusterAccess(stack, role, props, eksClusterName),
  ];
  if (props.resultEventBus) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'PutResultEvents',
        actions: ['events:PutEvents'],
        resources: [props.resultEventBus.eventBusArn],
      }),
    );
  }
  for (const statement of statements) role.addToPolicy(statement);
}

/** How the functions reach the cluster: EKS's DescribeCluster, or the kubeconfig secret. */
function clusterAccess(
  stack: Stack,
  role: iam.Role,
  props: EbsVolumeRemediatorProps,
  eksClusterName: string | undefined,
): iam.PolicyStatement[] {
  const statements: iam.PolicyStatement[] = [];
  if (eksClusterName) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'DescribeEksCluster',
        actions: ['eks:DescribeCluster'],
        resources: [
          stack.formatArn({ service: 'eks', resource: 'cluster', resourceName: eksClusterName }),
        ],
      }),
    );
  }
  if (props.kubeconfigSecret) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'ReadKubeconfig',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [props.kubeconfigSecret.secretArn],
      }),
    );
    (props.kubeconfigSecretKey ?? props.kubeconfigSecret.encryptionKey)?.grantDecrypt(role);
  }
  return statements;
}

/** The lifecycle function's calls: heartbeats and completion, for the named groups only. */
export function grantLifecycleActions(
  scope: Construct,
  role: iam.Role,
  hook: LifecycleHookProps,
): void {
  const stack = Stack.of(scope);
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'DescribeLifecycleHooks',
      // Heartbeats follow the hook's own timeout. Describe actions take no resource scope.
      actions: ['autoscaling:DescribeLifecycleHooks'],
      resources: ['*'],
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'CompleteLifecycleActionsOfNamedGroups',
      actions: [
        'autoscaling:CompleteLifecycleAction',
        'autoscaling:RecordLifecycleActionHeartbeat',
      ],
      resources: hook.autoScalingGroupNames.map((group) =>
        stack.formatArn({
          service: 'autoscaling',
          resource: 'autoScalingGroup',
          // The group's id is not known before it exists; its name is.
          resourceName: `*:autoScalingGroupName/${group}`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ),
    }),
  );
  acknowledgeAutoScalingGroupArns(scope, hook.autoScalingGroupNames);
}

/** The EKS access entry that maps the role to the group infra/kubernetes/rbac.yaml binds. */
export function addAccessEntry(scope: Construct, role: iam.IRole, eksClusterName: string): void {
  new eks.CfnAccessEntry(scope, 'AccessEntry', {
    clusterName: eksClusterName,
    principalArn: role.roleArn,
    kubernetesGroups: [kubernetesGroup],
    type: 'STANDARD',
  });
}
