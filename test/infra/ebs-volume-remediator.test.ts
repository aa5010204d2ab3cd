import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, aws_ec2 as ec2, aws_eks as eks, aws_eks_v2 as eksv2, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '#infra/app.ts';
import { EbsVolumeRemediator } from '#infra/ebs-volume-remediator.ts';
import type { ClusterConstruct } from '#infra/props.ts';
import { repoRoot } from '#support/paths.ts';
import { run } from '#support/processes.ts';
import { ensurePythonTool } from '#support/python-tools.ts';

beforeAll(async () => {
  // The construct deploys the bundles `npm run build` writes; build them as CI would.
  await run(process.execPath, [join(repoRoot, 'scripts/build.ts')], { cwd: repoRoot });
});

function synth(context: Record<string, string>): { app: App; stack: Stack; template: Template } {
  const app = new App({ context: { clusterName: 'prod', ...context } });
  const stack = buildApp(app);
  return { app, stack, template: Template.fromStack(stack) };
}

type Statement = {
  Sid?: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
};

function statements(template: Template): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies).flatMap(
    (policy) =>
      (policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties
        .PolicyDocument.Statement,
  );
}

function statement(template: Template, sid: string): Statement {
  const found = statements(template).find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}`);
  return found;
}

const partitionArn = (resource: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':ec2:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      `:${resource}`,
    ],
  ],
});

describe('the EbsVolumeRemediator stack', () => {
  it('runs node-loss and sweep on nodejs24.x, arm64, from the built bundles', () => {
    const { template } = synth({});

    template.resourceCountIs('AWS::Lambda::Function', 2);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      TracingConfig: Match.absent(),
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_TRACE_ENABLED: 'false',
          CLUSTER_NAME: 'prod',
          EKS_CLUSTER_NAME: 'prod',
          DRY_RUN: 'false',
          ON_STOPPED: 'remediate',
          ON_STOPPED_HIBERNATION_CAPABLE: 'ignore',
          OUT_OF_SERVICE_TAINT: 'true',
        }),
      },
    });
  });

  it('triggers on exactly the EC2 states node-loss acts on', () => {
    const { template } = synth({});

    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ec2'],
        'detail-type': ['EC2 Instance State-change Notification'],
        detail: { state: ['shutting-down', 'terminated', 'stopped', 'running'] },
      },
      State: 'ENABLED',
    });
  });

  it('triggers on Auto Scaling "EC2 Instance Terminate Successful"', () => {
    const { template } = synth({});

    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.autoscaling'],
        'detail-type': ['EC2 Instance Terminate Successful'],
      },
    });
  });

  it('sends events that fail every retry to an encrypted dead-letter queue', () => {
    const { template } = synth({});
    const queues = template.findResources('AWS::SQS::Queue');
    const [queueId] = Object.keys(queues);

    expect(Object.keys(queues)).toHaveLength(1);
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1209600,
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [
        Match.objectLike({ DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } } }),
      ],
    });
  });

  it('runs at most 10 node-loss invocations at once, and none reserved when asked', () => {
    const { template } = synth({});
    const reserved = Object.values(template.findResources('AWS::Lambda::Function')).map(
      (f) =>
        (f as { Properties: { ReservedConcurrentExecutions?: number } }).Properties
          .ReservedConcurrentExecutions,
    );
    // node-loss only: the sweep runs alone on its schedule.
    expect(reserved.filter((r) => r !== undefined)).toEqual([10]);

    const app = new App();
    const stack = new Stack(app, 'Unreserved');
    new EbsVolumeRemediator(stack, 'Remediator', {
      clusterName: 'prod',
      nodeLossReservedConcurrency: 0,
    });
    const unreserved = Template.fromStack(stack).findResources('AWS::Lambda::Function', {
      Properties: { ReservedConcurrentExecutions: Match.anyValue() },
    });
    expect(Object.keys(unreserved)).toEqual([]);
  });

  it('traces with X-Ray only when asked (-c tracing=true), with the trace writes that needs', () => {
    const { template } = synth({ tracing: 'true' });

    template.allResourcesProperties('AWS::Lambda::Function', {
      TracingConfig: { Mode: 'Active' },
      Environment: { Variables: Match.objectLike({ POWERTOOLS_TRACE_ENABLED: 'true' }) },
    });
    const actions = statements(template).flatMap((s) => [s.Action].flat());
    expect(actions).toEqual(
      expect.arrayContaining(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']),
    );
  });

  it('keeps the function logs for a month', () => {
    const { template } = synth({});

    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it("allows DetachVolume only from instances tagged for the cluster, on any of their volumes (static PVs' volumes have no tags)", () => {
    const { template } = synth({});
    const tagCondition = (key: string, values: string[]) => ({
      StringEquals: { [`aws:ResourceTag/${key}`]: values },
    });

    expect(statement(template, 'DetachFromClusterInstances')).toMatchObject({
      Action: 'ec2:DetachVolume',
      Resource: partitionArn('instance/*'),
      Condition: tagCondition('kubernetes.io/cluster/prod', ['owned', 'shared']),
    });
    expect(statement(template, 'DetachFromEksManagedInstances').Condition).toEqual(
      tagCondition('eks:cluster-name', ['prod']),
    );
    expect(statement(template, 'DetachVolumesOfClusterInstances')).toMatchObject({
      Resource: partitionArn('volume/*'),
    });
    expect(statement(template, 'DetachVolumesOfClusterInstances').Condition).toBeUndefined();
    // Every statement that allows DetachVolume on instances holds them to a cluster tag.
    const onInstances = statements(template).filter(
      (s) => s.Action === 'ec2:DetachVolume' && JSON.stringify(s.Resource).includes('instance/'),
    );
    expect(onInstances).toHaveLength(3);
    expect(onInstances.every((s) => s.Condition !== undefined)).toBe(true);
  });

  it('grants only the actions the remediator calls, never a wildcard action', () => {
    const { template } = synth({});

    const actions = statements(template).flatMap((s) => [s.Action].flat());
    expect(actions.some((a) => a.includes('*'))).toBe(false);
    expect(new Set(actions)).toEqual(
      new Set([
        'ec2:DescribeInstances',
        'ec2:DescribeInstanceStatus',
        'ec2:DescribeVolumes',
        'ec2:DetachVolume',
        'eks:DescribeCluster',
        // The on-failure destination: sending to the dead-letter queue, and only to it.
        'sqs:SendMessage',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
      ]),
    );
    const [queueId] = Object.keys(template.findResources('AWS::SQS::Queue'));
    const sqsStatements = statements(template).filter((s) =>
      [s.Action].flat().some((a) => a.startsWith('sqs:')),
    );
    for (const s of sqsStatements) expect(s.Resource).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
    expect(statement(template, 'DescribeEksCluster').Resource).toMatchObject({
      'Fn::Join': ['', expect.arrayContaining([':cluster/prod'])],
    });
  });

  it('maps the function role to the Kubernetes group of the RBAC manifest with an EKS access entry', () => {
    const { template } = synth({});

    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'prod',
      KubernetesGroups: ['ebs-volume-remediator'],
      Type: 'STANDARD',
    });
  });

  describe('given the EKS cluster construct (cluster) instead of its name', () => {
    const remediatorOf = (cluster: (stack: Stack) => ClusterConstruct, clusterName?: string) => {
      const stack = new Stack(new App(), 'WithCluster');
      new EbsVolumeRemediator(stack, 'Remediator', {
        cluster: cluster(stack),
        ...(clusterName ? { clusterName } : {}),
      });
      return Template.fromStack(stack);
    };
    const createdCluster = (clusterName?: string) => (stack: Stack) =>
      new eksv2.Cluster(stack, 'Cluster', {
        version: eksv2.KubernetesVersion.V1_33,
        ...(clusterName ? { clusterName } : {}),
      });
    const clusterIdOf = (template: Template) => {
      const [id] = Object.keys(template.findResources('AWS::EKS::Cluster'));
      if (!id) throw new Error('no AWS::EKS::Cluster in the template');
      return id;
    };

    it('takes the name of a cluster the app creates (aws_eks_v2), and creates the access entry after it', () => {
      const template = remediatorOf(createdCluster('prod'));

      template.hasResourceProperties('AWS::EKS::AccessEntry', {
        ClusterName: { Ref: clusterIdOf(template) },
        KubernetesGroups: ['ebs-volume-remediator'],
      });
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            CLUSTER_NAME: 'prod',
            EKS_CLUSTER_NAME: { Ref: clusterIdOf(template) },
          }),
        },
      });
      expect(JSON.stringify(statements(template))).toContain(
        'aws:ResourceTag/kubernetes.io/cluster/prod',
      );
    });

    it('takes the name of an imported cluster (aws_eks)', () => {
      const template = remediatorOf((stack) =>
        eks.Cluster.fromClusterAttributes(stack, 'Imported', { clusterName: 'legacy' }),
      );

      template.hasResourceProperties('AWS::EKS::AccessEntry', { ClusterName: 'legacy' });
      expect(JSON.stringify(statements(template))).toContain(
        'aws:ResourceTag/kubernetes.io/cluster/legacy',
      );
    });

    it('needs the name of a cluster CloudFormation names, and takes it from clusterName', () => {
      expect(() => remediatorOf(createdCluster())).toThrow(
        /give the cluster a clusterName, or give its name as clusterName here/,
      );

      const template = remediatorOf(createdCluster(), 'prod');
      template.hasResourceProperties('AWS::EKS::AccessEntry', {
        ClusterName: { Ref: clusterIdOf(template) },
      });
    });

    it("refuses a clusterName that is not the cluster's, and props that name no cluster", () => {
      expect(() => remediatorOf(createdCluster('prod'), 'staging')).toThrow(
        'clusterName "staging" is not the name of cluster ("prod")',
      );
      expect(() => new EbsVolumeRemediator(new Stack(), 'Remediator', {})).toThrow(
        /give clusterName .* or cluster/,
      );
    });
  });

  it('reads a kubeconfig secret instead, for clusters that are not EKS', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kubeconfig-AbCdEf';
    const { template } = synth({ kubeconfigSecretArn: arn });

    expect(statement(template, 'ReadKubeconfig')).toMatchObject({
      Action: 'secretsmanager:GetSecretValue',
      Resource: arn,
    });
    expect(statements(template).some((s) => s.Sid === 'DescribeEksCluster')).toBe(false);
    template.resourceCountIs('AWS::EKS::AccessEntry', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ KUBECONFIG_SECRET_ARN: arn }) },
    });
  });

  it('may decrypt a kubeconfig secret under a customer managed key with that key only', () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const { template } = synth({
      kubeconfigSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kubeconfig-AbCdEf',
      kubeconfigSecretKmsKeyArn: key,
    });

    const decrypt = statements(template).find((s) => [s.Action].flat().includes('kms:Decrypt'));
    expect(decrypt?.Resource).toBe(key);
  });

  it('may put result events only on the configured bus', () => {
    const bus = 'arn:aws:events:eu-west-1:123456789012:event-bus/remediation';
    const { template } = synth({ resultEventBusArn: bus });

    expect(statement(template, 'PutResultEvents')).toMatchObject({
      Action: 'events:PutEvents',
      Resource: bus,
    });
  });

  it('alarms on errors, throttles, dead letters, failures, refusals, missed events and pods not recovered, to one topic', () => {
    const { template } = synth({ alarmEmail: 'oncall@example.com' });
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Array<{
      Properties: { MetricName: string; Namespace: string; AlarmActions: unknown[] };
    }>;
    const [topicId] = Object.keys(template.findResources('AWS::SNS::Topic'));

    expect(
      alarms.map((a) => `${a.Properties.Namespace}/${a.Properties.MetricName}`).sort(),
    ).toEqual([
      // node-loss and sweep each
      'AWS/Lambda/Errors',
      'AWS/Lambda/Errors',
      'AWS/Lambda/Throttles',
      'AWS/Lambda/Throttles',
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'EbsVolumeRemediator/EventsMissed',
      'EbsVolumeRemediator/Failures',
      'EbsVolumeRemediator/PodsNotRecovered',
      'EbsVolumeRemediator/Refusals',
    ]);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  });

  it('runs the function in the given VPC, for a cluster with a private API endpoint', () => {
    const stack = new Stack(new App(), 'WithVpc');
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });

    new EbsVolumeRemediator(stack, 'Remediator', { clusterName: 'prod', vpc });

    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: { SubnetIds: Match.anyValue(), SecurityGroupIds: Match.anyValue() },
    });
  });

  it('names the functions to invoke by hand in the stack outputs', () => {
    const { template } = synth({});

    template.hasOutput('NodeLossFunctionName', {
      Value: { Ref: Match.stringLikeRegexp('NodeLossFunction') },
    });
    template.hasOutput('SweepFunctionName', {
      Value: { Ref: Match.stringLikeRegexp('SweepFunction') },
    });
  });

  it('sweeps every 15 minutes by default', () => {
    const { template } = synth({});

    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
  });

  it('takes a schedule and a dry-run for the sweep, or no schedule at all', () => {
    const { template } = synth({ sweepSchedule: 'cron(0 * * * ? *)', sweepDryRun: 'true' });

    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 * * * ? *)',
      Targets: [Match.objectLike({ Input: '{"action":"sweep","dryRun":true}' })],
    });
    expect(
      Object.values(
        synth({ sweepSchedule: 'none' }).template.findResources('AWS::Events::Rule'),
      ).some((rule) => 'ScheduleExpression' in (rule as { Properties: object }).Properties),
    ).toBe(false);
  });

  it('starts the sweep function when a listed alarm enters ALARM', () => {
    const alarm = 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:pods-stuck-multi-attach';
    const { template } = synth({ sweepAlarmArns: alarm });

    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        resources: [alarm],
        detail: { state: { value: ['ALARM'] } },
      },
    });
  });

  it('lets alarms of the account invoke the sweep function as their Lambda action', () => {
    const { template } = synth({});

    template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'lambda.alarms.cloudwatch.amazonaws.com',
      SourceAccount: { Ref: 'AWS::AccountId' },
    });
  });

  describe('with a terminate lifecycle hook', () => {
    const hookContext = {
      lifecycleHookName: 'ebs-volume-remediator',
      lifecycleGroupNames: 'workers-a,workers-b',
      createLifecycleHooks: 'true',
    };

    it('runs the lifecycle function for that hook of those groups only', () => {
      const { template } = synth(hookContext);

      template.resourceCountIs('AWS::Lambda::Function', 3);
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.autoscaling'],
          'detail-type': ['EC2 Instance-terminate Lifecycle Action'],
          detail: {
            LifecycleHookName: ['ebs-volume-remediator'],
            AutoScalingGroupName: ['workers-a', 'workers-b'],
          },
        },
      });
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            LIFECYCLE_HOOK_NAMES: 'ebs-volume-remediator',
            LIFECYCLE_WAIT_SECONDS: '600',
            LIFECYCLE_HEARTBEAT_SECONDS: '100',
          }),
        },
        Timeout: 720,
      });
    });

    it('may complete lifecycle actions of the named groups only', () => {
      const { template } = synth(hookContext);

      const granted = statement(template, 'CompleteLifecycleActionsOfNamedGroups');
      expect(granted.Action).toEqual([
        'autoscaling:CompleteLifecycleAction',
        'autoscaling:RecordLifecycleActionHeartbeat',
      ]);
      expect(JSON.stringify(granted.Resource)).toContain(
        ':autoScalingGroup:*:autoScalingGroupName/workers-a',
      );
      expect(JSON.stringify(granted.Resource)).toContain(
        ':autoScalingGroup:*:autoScalingGroupName/workers-b',
      );
    });

    it('creates the hook on each group when asked, continuing by default', () => {
      const { template } = synth(hookContext);

      for (const group of ['workers-a', 'workers-b']) {
        template.hasResourceProperties('AWS::AutoScaling::LifecycleHook', {
          AutoScalingGroupName: group,
          LifecycleHookName: 'ebs-volume-remediator',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          HeartbeatTimeout: 300,
          DefaultResult: 'CONTINUE',
        });
      }
    });

    it('still passes cdk-nag', () => {
      const { app, stack } = synth(hookContext);

      expect(
        new AwsSolutionsChecks(app).validateScope(stack).violations.map((v) => v.ruleName),
      ).toEqual([]);
    });
  });

  it('builds a dashboard, with the time to recover per pod in percentiles', () => {
    const { template } = synth({});

    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const [dashboard] = Object.values(
      template.findResources('AWS::CloudWatch::Dashboard'),
    ) as Array<{
      Properties: { DashboardBody: { 'Fn::Join': [string, unknown[]] } };
    }>;
    const body = (dashboard?.Properties.DashboardBody['Fn::Join'][1] ?? [])
      .filter((part): part is string => typeof part === 'string')
      .join('');
    const widget = body.split('"title":').find((w) => w.startsWith('"Time to recover'));
    expect(widget).toContain('"TimeToRecover"');
    for (const stat of ['p50', 'p90', 'Maximum']) expect(widget).toContain(`"stat":"${stat}"`);
  });

  describe('with fencing of hung nodes', () => {
    const fenceRoleStatements = (template: Template) => {
      const roles = template.findResources('AWS::IAM::Role');
      const fenceRoleId = Object.keys(roles).find((id) => id.includes('FenceRole'));
      const policies = template.findResources('AWS::IAM::Policy');
      return Object.values(policies)
        .filter((p) =>
          JSON.stringify((p as { Properties: { Roles: unknown } }).Properties.Roles).includes(
            fenceRoleId ?? 'none',
          ),
        )
        .flatMap(
          (p) =>
            (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties
              .PolicyDocument.Statement,
        );
    };

    it('is off unless asked for: no fence function, and no role that may stop an instance', () => {
      const { template } = synth({});

      const actions = statements(template).flatMap((s) => [s.Action].flat());
      expect(actions).not.toContain('ec2:StopInstances');
      expect(actions).not.toContain('ec2:TerminateInstances');
      expect(actions).not.toContain('ec2:CreateTags');
    });

    it('runs the fence function one at a time, every minute, with its settings', () => {
      const { template } = synth({ fenceHungNodes: 'true', fenceAfterSeconds: '240' });

      template.resourceCountIs('AWS::Lambda::Function', 3);
      template.hasResourceProperties('AWS::Lambda::Function', {
        ReservedConcurrentExecutions: 1,
        Environment: {
          Variables: Match.objectLike({
            FENCE_HUNG_NODES: 'true',
            FENCE_AFTER_SECONDS: '240',
            FENCE_ACTION: 'stop',
            MAX_FENCES: '1',
            FENCE_WINDOW_SECONDS: '600',
          }),
        },
      });
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
      });
    });

    it('looks for hung nodes on no schedule when told not to (alarms and manual invokes only)', () => {
      const stack = new Stack(new App(), 'Unscheduled');
      new EbsVolumeRemediator(stack, 'Remediator', {
        clusterName: 'prod',
        fenceHungNodes: { scheduled: false },
      });
      const schedules = Template.fromStack(stack).findResources('AWS::Events::Rule', {
        Properties: { ScheduleExpression: Match.anyValue() },
      });

      // The sweep's schedule only.
      expect(
        Object.values(schedules).map(
          (r) =>
            (r as { Properties: { ScheduleExpression: string } }).Properties.ScheduleExpression,
        ),
      ).toEqual(['rate(15 minutes)']);
    });

    it('lets only the fence role stop instances, only the cluster’s, and tag them with the fence tag only', () => {
      const { template } = synth({ fenceHungNodes: 'true' });

      const fenceStatements = fenceRoleStatements(template);
      const stops = fenceStatements.filter((s) => [s.Action].flat().includes('ec2:StopInstances'));
      expect(stops.map((s) => s.Condition)).toEqual([
        { StringEquals: { 'aws:ResourceTag/kubernetes.io/cluster/prod': ['owned', 'shared'] } },
        { StringEquals: { 'aws:ResourceTag/eks:cluster-name': ['prod'] } },
        { StringEquals: { 'aws:ResourceTag/KubernetesCluster': ['prod'] } },
      ]);
      const tags = fenceStatements.filter((s) => [s.Action].flat().includes('ec2:CreateTags'));
      expect(tags).toHaveLength(3);
      for (const tag of tags) {
        expect(tag.Condition).toMatchObject({
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['ebs-volume-remediator/fenced-at'] },
        });
      }
      const everyAction = fenceStatements.flatMap((s) => [s.Action].flat());
      expect(everyAction).not.toContain('ec2:TerminateInstances');
      const others = statements(template).filter((s) => !fenceStatements.includes(s));
      expect(others.flatMap((s) => [s.Action].flat())).not.toContain('ec2:StopInstances');
    });

    it('grants TerminateInstances instead when that is the fence action', () => {
      const { template } = synth({ fenceHungNodes: 'true', fenceAction: 'terminate' });

      const actions = fenceRoleStatements(template).flatMap((s) => [s.Action].flat());
      expect(actions).toContain('ec2:TerminateInstances');
      expect(actions).not.toContain('ec2:StopInstances');
    });

    it('maps the fence role to the same Kubernetes group with its own access entry', () => {
      const { template } = synth({ fenceHungNodes: 'true' });

      template.resourceCountIs('AWS::EKS::AccessEntry', 2);
    });

    it('alarms on every fence and on every refusal to fence, and shows them on the dashboard', () => {
      const { template } = synth({ fenceHungNodes: 'true' });

      for (const metric of ['InstancesFenced', 'FencesRefused']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          MetricName: metric,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
      }
      const dashboard = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
      expect(dashboard).toContain('InstancesFenced');
    });

    it('judges the instance a listed status-check alarm names', () => {
      const alarm = 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:node-status-check';
      const { template } = synth({ fenceHungNodes: 'true', fenceAlarmArns: alarm });

      template.hasResourceProperties('AWS::Events::Rule', {
        Description: Match.stringLikeRegexp('judged at once'),
        EventPattern: Match.objectLike({ resources: [alarm] }),
      });
    });

    it('keeps a fence dry-run to the fence function, whatever starts its check', () => {
      const { template } = synth({ fenceHungNodes: 'true', fenceDryRun: 'true' });

      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({ FENCE_HUNG_NODES: 'true', DRY_RUN: 'true' }),
        },
      });
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({ DRY_RUN: 'false', FENCE_HUNG_NODES: Match.absent() }),
        },
      });
    });

    it('refuses a stop fence while stopped instances are ignored', () => {
      expect(() => synth({ fenceHungNodes: 'true', onStopped: 'ignore' })).toThrow(
        /FenceAction.STOP needs onStopped OnStopped.REMEDIATE/,
      );
    });

    it('passes cdk-nag AwsSolutions', () => {
      const { app, stack } = synth({ fenceHungNodes: 'true' });

      const report = new AwsSolutionsChecks(app).validateScope(stack);

      expect(report.violations.map((v) => v.ruleName)).toEqual([]);
    });
  });

  it('passes cdk-nag AwsSolutions, with a reason for every accepted finding', () => {
    const { app, stack } = synth({
      kubeconfigSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf',
    });

    const report = new AwsSolutionsChecks(app).validateScope(stack);

    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('refuses to synthesize without a cluster name, and says how to give one', () => {
    expect(() => buildApp(new App())).toThrow(/npx cdk deploy -c clusterName=<cluster>/);
  });

  it('passes cfn-lint, with every option on', async () => {
    const { app } = synth({
      alarmEmail: 'oncall@example.com',
      resultEventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/remediation',
      sweepAlarmArns: 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:pods-stuck-multi-attach',
      lifecycleHookName: 'ebs-volume-remediator',
      lifecycleGroupNames: 'workers-a',
      createLifecycleHooks: 'true',
      fenceHungNodes: 'true',
      fenceAlarmArns: 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:node-status-check',
    });
    const assembly = app.synth();
    const template = assembly.getStackByName('EbsVolumeRemediator').template;
    const file = join(mkdtempSync(join(tmpdir(), 'cfn-lint-')), 'template.json');
    writeFileSync(file, JSON.stringify(template));
    const cfnLint = await ensurePythonTool({
      command: 'cfn-lint',
      requirement: 'cfn-lint==1.58.0',
      overrideVariable: 'CFN_LINT',
      probeArgs: ['--version'],
    });

    // Exits non-zero on any error or warning, with the findings in the message. W3005 is left
    // out: CDK writes a DependsOn on the function's role next to the GetAtt that implies it,
    // which is redundant and harmless.
    await run(cfnLint, ['--regions', 'us-east-1', '--ignore-checks', 'W3005', '--', file]);
  });
});
