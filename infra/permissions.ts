/**
 * What the functions may do in AWS and in the cluster: the least-privilege IAM policy, the
 * lifecycle hook's calls, and the EKS access entry that maps the role to the Kubernetes group
 * infra/kubernetes/rbac.yaml binds.
 */
import { ArnFormat, aws_eks as eks, aws_iam as iam, Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { fencedAtTag } from '../functions/shared/contract/fence-tag.ts';
import { kubernetesGroup } from '../functions/shared/contract/kubernetes-identity.ts';
import type { FenceAction } from '../functions/shared/contract/settings.ts';
import type { ResolvedProps } from './cluster.ts';
import { acknowledgeAutoScalingGroupArns } from './nag-suppressions.ts';
import type { LifecycleHookProps } from './props.ts';

function ec2Arn(stack: Stack, resource: string): string {
  return stack.formatArn({ service: 'ec2', resource, resourceName: '*' });
}

/**
 * Statements that allow `actions` on the cluster's instances only: one per tag that ties an
 * instance to the cluster (statements are ORed, a statement's conditions ANDed).
 */
function onClusterInstances(
  stack: Stack,
  clusterName: string,
  sidPrefix: string,
  actions: string[],
  moreConditions: Record<string, Record<string, string[]>> = {},
): iam.PolicyStatement[] {
  const tags: Array<[string, string, string[]]> = [
    ['ClusterInstances', `kubernetes.io/cluster/${clusterName}`, ['owned', 'shared']],
    ['EksManagedInstances', 'eks:cluster-name', [clusterName]],
    ['LegacyTaggedInstances', 'KubernetesCluster', [clusterName]],
  ];
  return tags.map(
    ([sid, tagKey, values]) =>
      new iam.PolicyStatement({
        sid: `${sidPrefix}${sid}`,
        actions,
        resources: [ec2Arn(stack, 'instance')],
        conditions: {
          ...moreConditions,
          StringEquals: {
            ...moreConditions.StringEquals,
            [`aws:ResourceTag/${tagKey}`]: values,
          },
        },
      }),
  );
}

/**
 * The fence function's own calls, beyond the remediation's: stop (or terminate, when that is the
 * action chosen) the cluster's instances, and tag them with the fence tag and no other.
 */
export function grantFencing(
  scope: Construct,
  role: iam.Role,
  clusterName: string,
  action: FenceAction,
): void {
  const stack = Stack.of(scope);
  const fenceCall = action === 'stop' ? 'ec2:StopInstances' : 'ec2:TerminateInstances';
  const statements = [
    ...onClusterInstances(stack, clusterName, 'FenceOnly', [fenceCall]),
    ...onClusterInstances(stack, clusterName, 'TagFenced', ['ec2:CreateTags'], {
      'ForAllValues:StringEquals': { 'aws:TagKeys': [fencedAtTag] },
    }),
  ];
  for (const statement of statements) role.addToPolicy(statement);
}

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
  props: ResolvedProps,
  eksClusterName: string | undefined,
): void {
  const { clusterName } = props;
  const stack = Stack.of(scope);
  const statements = [
    new iam.PolicyStatement({
      sid: 'DescribeInstancesAndVolumes',
      // These actions support no resource-level scoping: IAM requires "*" here.
      // DescribeInstanceStatus is the sweep's screening of many instances (states only).
      actions: ['ec2:DescribeInstances', 'ec2:DescribeInstanceStatus', 'ec2:DescribeVolumes'],
      resources: ['*'],
    }),
    ...onClusterInstances(stack, clusterName, 'DetachFrom', ['ec2:DetachVolume']),
    new iam.PolicyStatement({
      sid: 'DetachVolumesOfClusterInstances',
      actions: ['ec2:DetachVolume'],
      resources: [ec2Arn(stack, 'volume')],
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
  props: ResolvedProps,
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
export function addAccessEntry(
  scope: Construct,
  role: iam.IRole,
  eksClusterName: string,
  id = 'AccessEntry',
): void {
  new eks.CfnAccessEntry(scope, id, {
    clusterName: eksClusterName,
    principalArn: role.roleArn,
    kubernetesGroups: [kubernetesGroup],
    type: 'STANDARD',
  });
}
