import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * The cdk-nag AwsSolutions findings this project accepts, each with its reason, acknowledged on
 * the construct so that apps using it inherit them. Everything else must pass (test/infra).
 */
export function acknowledgeAcceptedFindings(scope: IConstruct, deadLetterQueue: IConstruct): void {
  const accepted: Array<{ id: string; reason: string }> = [
    {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'Grants only writing the function logs, which every Lambda function needs.',
    },
    {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
      reason: 'Grants only the network interfaces a Lambda function in a VPC needs.',
    },
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ec2:DescribeInstances, ec2:DescribeInstanceStatus, ec2:DescribeVolumes and autoscaling:DescribeLifecycleHooks, and the X-Ray trace writes, support no resource-level permissions.',
    },
    {
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
      reason:
        'ec2:DetachVolume on instances only under resource-tag conditions that tie them to the cluster.',
    },
    {
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:volume/*]',
      reason:
        "ec2:DetachVolume on volumes: the instance statements confine it to the cluster's instances, and the function detaches only volumes a PersistentVolume or VolumeAttachment of the cluster names (static PVs often have no tags).",
    },
  ];
  for (const finding of accepted) Validations.of(scope).acknowledge(finding);
  Validations.of(deadLetterQueue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: 'This queue is itself the dead-letter queue of the function and its rules.',
  });
}

/** The lifecycle actions of named Auto Scaling groups: their ARNs hold an id unknown beforehand. */
export function acknowledgeAutoScalingGroupArns(
  scope: IConstruct,
  groupNames: readonly string[],
): void {
  for (const group of groupNames) {
    Validations.of(scope).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/${group}]`,
      reason:
        'Lifecycle actions of this named group only; a group ARN also holds an id that is unknown before the group exists.',
    });
  }
}
