import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  ArnFormat,
  aws_autoscaling as autoscaling,
  aws_cloudwatch as cloudwatch,
  aws_cloudwatch_actions as cloudwatchActions,
  Duration,
  aws_lambda_destinations as destinations,
  aws_ec2 as ec2,
  aws_eks as eks,
  aws_events as events,
  aws_iam as iam,
  aws_kms as kms,
  aws_lambda as lambda,
  aws_logs as logs,
  Stack,
  type aws_secretsmanager as secretsmanager,
  aws_sns as sns,
  aws_sqs as sqs,
  aws_sns_subscriptions as subscriptions,
  aws_events_targets as targets,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import {
  clusterDimension,
  metricNames,
  metricsNamespace,
  serviceName,
} from '../functions/shared/contract/metric-names.ts';
import {
  acknowledgeAcceptedFindings,
  acknowledgeAutoScalingGroupArns,
} from './nag-suppressions.ts';

/** The Kubernetes group infra/kubernetes/rbac.yaml binds; the access entry maps the role to it. */
export const kubernetesGroup = 'ebs-volume-remediator';

/**
 * The folder of the package (or the repository): the nearest one with a package.json above
 * this file, which is infra/ in the repository and lib/infra/ in the installed package.
 */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** Where `npm run build` writes the function bundles the construct deploys; the package carries them. */
export const defaultBundleDir = join(packageRoot(import.meta.dirname), 'dist');

/** A terminate lifecycle hook the remediator uses to detach volumes before scale-in ends. */
export interface LifecycleHookProps {
  /** The hook's name; events of any other hook are left alone. */
  readonly hookName: string;
  /** The Auto Scaling groups whose hook of that name the remediator may complete. */
  readonly autoScalingGroupNames: string[];
  /**
   * Create the hook on those groups (otherwise they must have it already).
   * @default false
   */
  readonly createHooks?: boolean;
  /**
   * The hook's heartbeat timeout (when created); heartbeats go out three times as often.
   * @default 5 minutes
   */
  readonly heartbeatTimeout?: Duration;
  /**
   * How long to wait for the node's VolumeAttachments before completing anyway.
   * @default 10 minutes
   */
  readonly waitBudget?: Duration;
}

export interface EbsVolumeRemediatorProps {
  /**
   * The Kubernetes cluster whose dead nodes' volumes are freed. IAM lets volumes be detached
   * only from instances tagged for it (`kubernetes.io/cluster/<name>`, `eks:cluster-name`,
   * `KubernetesCluster`); the function detaches only volumes a PersistentVolume or
   * VolumeAttachment of the cluster names.
   */
  readonly clusterName: string;

  /**
   * The EKS cluster to reach through DescribeCluster and an IAM token.
   * @default clusterName, unless `kubeconfigSecret` is given
   */
  readonly eksClusterName?: string;

  /**
   * For clusters that are not EKS: a Secrets Manager secret holding a kubeconfig (as text)
   * whose user is in the Kubernetes group `ebs-volume-remediator`.
   * @default none: the cluster is reached as an EKS cluster
   */
  readonly kubeconfigSecret?: secretsmanager.ISecret;

  /**
   * The customer managed KMS key that encrypts `kubeconfigSecret`, when the secret was imported
   * without it (a secret created in the same app carries its key already).
   * @default the secret's own key, or the AWS managed key of Secrets Manager
   */
  readonly kubeconfigSecretKey?: kms.IKey;

  /**
   * Create an EKS access entry that maps the function's role to the Kubernetes group
   * `ebs-volume-remediator` (the cluster's authentication mode must include API).
   * @default true for EKS clusters
   */
  readonly createAccessEntry?: boolean;

  /**
   * The VPC to run the functions in, for a cluster whose API endpoint is private.
   * @default none: the functions run outside any VPC
   */
  readonly vpc?: ec2.IVpc;

  /**
   * The subnets in `vpc`. They need a route (NAT, or interface VPC endpoints) to the APIs the
   * functions call: EC2, EventBridge (with a result bus), EKS (for EKS clusters), Secrets Manager
   * (for a kubeconfig secret) and Auto Scaling (for the lifecycle function). Not STS: the EKS
   * token is a URL presigned locally, which the cluster, not the function, calls.
   * @default the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * Security groups for the functions in `vpc`; the cluster's API must accept HTTPS from them.
   * @default one new security group with all outbound traffic allowed
   */
  readonly securityGroups?: ec2.ISecurityGroup[];

  /**
   * Report what would be done and do nothing.
   * @default false
   */
  readonly dryRun?: boolean;

  /**
   * X-Ray active tracing of the functions and their AWS calls. Off by default: loading the
   * tracer adds about 100 ms to every cold start, and every EC2 state change in the account
   * invokes node-loss.
   * @default false
   */
  readonly tracing?: boolean;

  /**
   * What to do for a stopped instance: free its volumes, or leave it alone.
   * @default 'remediate'
   */
  readonly onStopped?: 'remediate' | 'ignore';

  /**
   * What to do for a stopped instance configured for hibernation: leave it alone (it may have
   * hibernated, and would resume with its memory and mounts), or free its volumes too.
   * @default 'ignore'
   */
  readonly onStoppedHibernationCapable?: 'remediate' | 'ignore';

  /**
   * Taint the Node of a stopped or terminated instance `node.kubernetes.io/out-of-service:NoExecute`
   * (Kubernetes 1.28+) and force-delete its pods, so the replacement pods get their volumes in
   * seconds; the taint is lifted when the instance runs again.
   * @default true
   */
  readonly outOfServiceTaint?: boolean;

  /**
   * Delete the Node of a terminated instance once its pods and volumes are free: for clusters
   * with no cloud node lifecycle (EKS has one), where that Node would stay NotReady for good.
   * Needs `infra/kubernetes/rbac-delete-nodes.yaml` applied beside `rbac.yaml`.
   * @default false
   */
  readonly deleteTerminatedNodes?: boolean;

  /**
   * The bus that receives one result event per instance acted on.
   * @default none: no result events
   */
  readonly resultEventBus?: events.IEventBus;

  /**
   * The circuit breaker: more destructive actions (detaches, VolumeAttachment deletions, taints)
   * than this in one invocation or sweep, and it refuses and raises its alarm.
   * @default 100
   */
  readonly maxActionsPerInvocation?: number;

  /**
   * The circuit breaker: more than this share (%) of the cluster's Nodes looking dead at once,
   * and it refuses (like Medik8s' minHealthy). A one-node cluster is always above it.
   * @default 50
   */
  readonly maxDeadNodePercent?: number;

  /**
   * How many node-loss invocations run at once (reserved concurrency); more events wait in
   * Lambda's queue (up to an hour). When a zone goes down, 100+ events arrive together: 10 at a
   * time keeps EC2 under its throttling and the kube-apiserver under a steady load, and still
   * finished 50 dead nodes in the benchmark (BENCHMARKS.md, "Zone outage"). `null` reserves
   * none (an account whose concurrency limit is under 110 cannot reserve any).
   * @default 10
   */
  readonly nodeLossReservedConcurrency?: number | null;

  /**
   * A label selector that limits the sweep to some Nodes, such as one node group.
   * @default every Node
   */
  readonly sweepNodeSelector?: string;

  /**
   * When the sweep runs; `null` for no schedule (manual invokes and alarms only).
   * @default every 15 minutes
   */
  readonly sweepSchedule?: events.Schedule | null;

  /**
   * Dry-run for the scheduled sweep only, for example to watch it before letting it act.
   * @default the same as `dryRun`
   */
  readonly sweepDryRun?: boolean;

  /**
   * Alarms whose entering ALARM triggers the sweep function: an alarm on a metric with an
   * `InstanceId` dimension (an EC2 status check) remediates that instance, any other alarm
   * (pods stuck on Multi-Attach errors) sweeps the cluster. An alarm can also invoke the sweep
   * function directly as its Lambda action.
   * @default none
   */
  readonly sweepAlarms?: cloudwatch.IAlarm[];

  /**
   * Use a terminate lifecycle hook of Auto Scaling groups: hold scale-in until the node's
   * VolumeAttachments are gone (drained by whatever drains it), then complete with CONTINUE.
   * @default none: scale-in is cleaned up after termination by node-loss
   */
  readonly lifecycleHook?: LifecycleHookProps;

  /**
   * The topic the alarms notify.
   * @default a new KMS-encrypted topic
   */
  readonly alarmTopic?: sns.ITopic;

  /**
   * An e-mail address subscribed to the alarm topic.
   * @default no subscription
   */
  readonly alarmEmail?: string;

  /**
   * How long the functions' logs are kept.
   * @default one month
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * The folder holding the built bundles (`<folder>/node-loss/index.mjs`), as `npm run build`
   * writes them.
   * @default the repository's dist/
   */
  readonly bundleDir?: string;
}

/**
 * Deploys ebs-volume-remediator for one cluster: the node-loss and sweep functions, their
 * EventBridge rules and schedule, least-privilege IAM, a dead-letter queue, alarms and a
 * dashboard.
 */
export class EbsVolumeRemediator extends Construct {
  /** The function that frees the volumes of dead nodes. */
  readonly nodeLossFunction: lambda.Function;
  /** The function that sweeps the cluster for attachments of dead nodes (the backfill). */
  readonly sweepFunction: lambda.Function;
  /** The function that holds scale-in until a node's volumes are detached; with `lifecycleHook` only. */
  readonly lifecycleFunction?: lambda.Function;
  /** The role of the functions, mapped to the Kubernetes group `ebs-volume-remediator`. */
  readonly role: iam.Role;
  /** Events that failed every retry, kept for 14 days. */
  readonly deadLetterQueue: sqs.Queue;
  /** The topic every alarm notifies. */
  readonly alarmTopic: sns.ITopic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: EbsVolumeRemediatorProps) {
    super(scope, id);
    const clusterName = props.clusterName;
    if (!/^[0-9A-Za-z][A-Za-z0-9\-_]*$/.test(clusterName)) {
      throw new Error(`clusterName "${clusterName}" is not a valid cluster name`);
    }
    if (props.kubeconfigSecret && props.eksClusterName) {
      throw new Error('give either eksClusterName or kubeconfigSecret, not both');
    }
    const eksClusterName = props.kubeconfigSecret
      ? undefined
      : (props.eksClusterName ?? clusterName);
    const bundleDir = props.bundleDir ?? defaultBundleDir;
    for (const name of ['node-loss', 'sweep', ...(props.lifecycleHook ? ['lifecycle'] : [])]) {
      if (!existsSync(join(bundleDir, name, 'index.mjs'))) {
        throw new Error(
          `no bundle at ${join(bundleDir, name)}/index.mjs: run \`npm run build\` first`,
        );
      }
    }

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    // One role for both functions: they make the same calls, and one access entry maps it.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `ebs-volume-remediator for cluster ${clusterName}`,
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName(
          props.vpc
            ? 'service-role/AWSLambdaVPCAccessExecutionRole'
            : 'service-role/AWSLambdaBasicExecutionRole',
        ),
      ],
    });
    this.grantPermissions(this.role, clusterName, eksClusterName, props);

    const environment: Record<string, string> = {
      CLUSTER_NAME: clusterName,
      ...(eksClusterName ? { EKS_CLUSTER_NAME: eksClusterName } : {}),
      ...(props.kubeconfigSecret
        ? { KUBECONFIG_SECRET_ARN: props.kubeconfigSecret.secretArn }
        : {}),
      DRY_RUN: String(props.dryRun ?? false),
      ON_STOPPED: props.onStopped ?? 'remediate',
      ON_STOPPED_HIBERNATION_CAPABLE: props.onStoppedHibernationCapable ?? 'ignore',
      OUT_OF_SERVICE_TAINT: String(props.outOfServiceTaint ?? true),
      DELETE_TERMINATED_NODES: String(props.deleteTerminatedNodes ?? false),
      MAX_ACTIONS_PER_INVOCATION: String(props.maxActionsPerInvocation ?? 100),
      MAX_DEAD_NODE_PERCENT: String(props.maxDeadNodePercent ?? 50),
      ...(props.resultEventBus ? { RESULT_EVENT_BUS: props.resultEventBus.eventBusArn } : {}),
      ...(props.sweepNodeSelector ? { NODE_SELECTOR: props.sweepNodeSelector } : {}),
      POWERTOOLS_SERVICE_NAME: serviceName,
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespace,
      POWERTOOLS_TRACE_ENABLED: String(props.tracing === true),
    };
    const makeFunction = (
      id: string,
      bundle: string,
      description: string,
      timeout: Duration,
      extraEnvironment: Record<string, string> = {},
      memorySize = 512,
      reservedConcurrentExecutions?: number,
    ) =>
      new lambda.Function(this, id, {
        ...(reservedConcurrentExecutions === undefined ? {} : { reservedConcurrentExecutions }),
        description,
        runtime: lambda.Runtime.NODEJS_24_X,
        architecture: lambda.Architecture.ARM_64,
        handler: 'index.handler',
        code: lambda.Code.fromAsset(join(bundleDir, bundle), { exclude: ['*.map'] }),
        role: this.role,
        memorySize,
        timeout,
        environment: { ...environment, ...extraEnvironment },
        logGroup: new logs.LogGroup(this, `${id}Logs`, {
          retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        }),
        tracing: props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
        ...(props.vpc
          ? {
              vpc: props.vpc,
              vpcSubnets: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
              ...(props.securityGroups ? { securityGroups: props.securityGroups } : {}),
            }
          : {}),
        retryAttempts: 2,
        // An event older than this is left to the next sweep; by then the cluster has moved on.
        maxEventAge: Duration.hours(1),
        onFailure: new destinations.SqsDestination(this.deadLetterQueue),
      });

    this.nodeLossFunction = makeFunction(
      'NodeLossFunction',
      'node-loss',
      `Frees the EBS volumes of dead nodes of cluster ${clusterName}`,
      // A plain detach (20 s), a forced one (30 s) and the attacher's grace (5 s), with room.
      Duration.minutes(2),
      {},
      512,
      props.nodeLossReservedConcurrency === null
        ? undefined
        : (props.nodeLossReservedConcurrency ?? 10),
    );
    this.sweepFunction = makeFunction(
      'SweepFunction',
      'sweep',
      `Sweeps cluster ${clusterName} for VolumeAttachments of dead nodes`,
      // The sweep stops starting batches about a minute before this.
      Duration.minutes(10),
      {},
      // A dry-run sweep of 5,000 nodes peaked under 500 MiB in the benchmarks (BENCHMARKS.md).
      1024,
    );

    const hook = props.lifecycleHook;
    if (hook) {
      if (hook.autoScalingGroupNames.length === 0) {
        throw new Error('lifecycleHook.autoScalingGroupNames must name at least one group');
      }
      const waitBudget = hook.waitBudget ?? Duration.minutes(10);
      const heartbeatTimeout = hook.heartbeatTimeout ?? Duration.minutes(5);
      if (waitBudget.toSeconds() > 13 * 60) {
        throw new Error(
          'lifecycleHook.waitBudget must leave room inside the 15-minute Lambda limit: 13 minutes at most',
        );
      }
      this.lifecycleFunction = makeFunction(
        'LifecycleFunction',
        'lifecycle',
        `Holds scale-in of cluster ${clusterName} until its nodes' volumes are detached`,
        Duration.seconds(waitBudget.toSeconds() + 120),
        {
          LIFECYCLE_HOOK_NAMES: hook.hookName,
          LIFECYCLE_WAIT_SECONDS: String(waitBudget.toSeconds()),
          // Three heartbeats per heartbeat timeout: one late call never lets the hook expire.
          LIFECYCLE_HEARTBEAT_SECONDS: String(
            Math.max(10, Math.floor(heartbeatTimeout.toSeconds() / 3)),
          ),
        },
      );
      this.addLifecycleHook(hook, heartbeatTimeout);
    }

    if (eksClusterName && (props.createAccessEntry ?? true)) {
      new eks.CfnAccessEntry(this, 'AccessEntry', {
        clusterName: eksClusterName,
        principalArn: this.role.roleArn,
        kubernetesGroups: [kubernetesGroup],
        type: 'STANDARD',
      });
    }

    this.addRules();
    this.addSweepTriggers(props);
    this.alarmTopic = props.alarmTopic ?? this.createAlarmTopic();
    if (props.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    this.addAlarms(clusterName);
    this.dashboard = this.addDashboard(clusterName);
    acknowledgeAcceptedFindings(this, this.deadLetterQueue);
  }

  private addRules(): void {
    const target = new targets.LambdaFunction(this.nodeLossFunction, {
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 8,
      maxEventAge: Duration.hours(1),
    });
    new events.Rule(this, 'Ec2StateChangeRule', {
      description: 'EC2 instances going, gone, stopped or running again: ebs-volume-remediator',
      eventPattern: {
        source: ['aws.ec2'],
        detailType: ['EC2 Instance State-change Notification'],
        detail: { state: ['shutting-down', 'terminated', 'stopped', 'running'] },
      },
      targets: [target],
    });
    new events.Rule(this, 'AutoScalingTerminateRule', {
      description: 'Instances an Auto Scaling group terminated: ebs-volume-remediator',
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: ['EC2 Instance Terminate Successful'],
      },
      targets: [target],
    });
  }

  private addLifecycleHook(hook: LifecycleHookProps, heartbeatTimeout: Duration): void {
    const fn = this.lifecycleFunction;
    if (!fn) return;
    const stack = Stack.of(this);
    new events.Rule(this, 'LifecycleActionRule', {
      description: 'Scale-in held by the ebs-volume-remediator lifecycle hook',
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: ['EC2 Instance-terminate Lifecycle Action'],
        detail: {
          LifecycleHookName: [hook.hookName],
          AutoScalingGroupName: hook.autoScalingGroupNames,
        },
      },
      targets: [
        new targets.LambdaFunction(fn, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 2 }),
      ],
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DescribeLifecycleHooks',
        // Heartbeats follow the hook's own timeout. Describe actions take no resource scope.
        actions: ['autoscaling:DescribeLifecycleHooks'],
        resources: ['*'],
      }),
    );
    this.role.addToPolicy(
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
    acknowledgeAutoScalingGroupArns(this, hook.autoScalingGroupNames);
    if (hook.createHooks ?? false) {
      hook.autoScalingGroupNames.forEach((group, index) => {
        new autoscaling.CfnLifecycleHook(this, `LifecycleHook${index}`, {
          autoScalingGroupName: group,
          lifecycleHookName: hook.hookName,
          lifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          heartbeatTimeout: heartbeatTimeout.toSeconds(),
          // If the remediator is gone, scale-in goes on; node-loss cleans up after.
          defaultResult: 'CONTINUE',
        });
      });
    }
  }

  private addSweepTriggers(props: EbsVolumeRemediatorProps): void {
    const input =
      props.sweepDryRun === undefined
        ? undefined
        : events.RuleTargetInput.fromObject({ action: 'sweep', dryRun: props.sweepDryRun });
    const target = new targets.LambdaFunction(this.sweepFunction, {
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 2,
      ...(input ? { event: input } : {}),
    });
    if (props.sweepSchedule !== null) {
      new events.Rule(this, 'SweepScheduleRule', {
        description: 'Regular sweep for attachments of dead nodes: ebs-volume-remediator',
        schedule: props.sweepSchedule ?? events.Schedule.rate(Duration.minutes(15)),
        targets: [target],
      });
    }
    // Any alarm of the account may name the sweep function as its Lambda action.
    this.sweepFunction.addPermission('InvokeFromAlarmActions', {
      principal: new iam.ServicePrincipal('lambda.alarms.cloudwatch.amazonaws.com'),
      sourceAccount: Stack.of(this).account,
    });
    const alarms = props.sweepAlarms ?? [];
    if (alarms.length > 0) {
      // The function reads the alarm from the event: an InstanceId dimension remediates that
      // instance, any other alarm sweeps. Only entering ALARM triggers it.
      new events.Rule(this, 'SweepAlarmRule', {
        description: 'Operator alarms that start a sweep: ebs-volume-remediator',
        eventPattern: {
          source: ['aws.cloudwatch'],
          detailType: ['CloudWatch Alarm State Change'],
          resources: alarms.map((alarm) => alarm.alarmArn),
          detail: { state: { value: ['ALARM'] } },
        },
        targets: [
          new targets.LambdaFunction(this.sweepFunction, {
            deadLetterQueue: this.deadLetterQueue,
            retryAttempts: 2,
          }),
        ],
      });
    }
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
  private grantPermissions(
    role: iam.Role,
    clusterName: string,
    eksClusterName: string | undefined,
    props: EbsVolumeRemediatorProps,
  ): void {
    const stack = Stack.of(this);
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
    ];
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

  private createAlarmTopic(): sns.Topic {
    // CloudWatch can publish to an encrypted topic only with a customer managed key it may use.
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the ebs-volume-remediator alarm topic',
      enableKeyRotation: true,
    });
    key.grant(
      new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
      'kms:Decrypt',
      'kms:GenerateDataKey*',
    );
    return new sns.Topic(this, 'AlarmTopic', {
      displayName: 'ebs-volume-remediator alarms',
      masterKey: key,
      enforceSSL: true,
    });
  }

  private remediatorMetric(metricName: string, clusterName: string, statistic = 'Sum') {
    return new cloudwatch.Metric({
      namespace: metricsNamespace,
      metricName,
      dimensionsMap: { service: serviceName, [clusterDimension]: clusterName },
      statistic,
      period: Duration.minutes(5),
    });
  }

  private addAlarms(clusterName: string): void {
    const action = new cloudwatchActions.SnsAction(this.alarmTopic);
    const alarm = (id: string, description: string, metric: cloudwatch.IMetric) => {
      const created = new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(action);
      this.alarms.push(created);
    };
    const functions = [
      { id: 'NodeLoss', name: 'node-loss', fn: this.nodeLossFunction },
      { id: 'Sweep', name: 'sweep', fn: this.sweepFunction },
      ...(this.lifecycleFunction
        ? [{ id: 'Lifecycle', name: 'lifecycle', fn: this.lifecycleFunction }]
        : []),
    ];
    for (const { id, name, fn } of functions) {
      alarm(
        `${id}ErrorsAlarm`,
        `${name} failed an invocation: volumes of a dead node may still be held. Check its logs; Lambda retries, then the dead-letter queue keeps the event.`,
        fn.metricErrors({ period: Duration.minutes(5) }),
      );
      alarm(
        `${id}ThrottlesAlarm`,
        `${name} was throttled: remediation is delayed. Check the account's Lambda concurrency.`,
        fn.metricThrottles({ period: Duration.minutes(5) }),
      );
    }
    alarm(
      'DeadLetterQueueAlarm',
      'Events failed every retry and wait in the dead-letter queue: remediate those instances by hand or run a sweep.',
      this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
    );
    alarm(
      'RemediationFailuresAlarm',
      'An action of a remediation failed (detach, VolumeAttachment delete, taint): see the function logs for what was being done.',
      this.remediatorMetric(metricNames.failures, clusterName),
    );
    alarm(
      'SafetyRefusalsAlarm',
      'The remediator refused to act (a running instance named by an event, or the circuit breaker): check the instance, then remediate by hand if it is really gone.',
      this.remediatorMetric(metricNames.refusals, clusterName),
    );
  }

  private addDashboard(clusterName: string): cloudwatch.Dashboard {
    const metric = (name: string, statistic = 'Sum') =>
      this.remediatorMetric(name, clusterName, statistic);
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard');
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Events received, by kind',
        left: [
          new cloudwatch.MathExpression({
            expression: `SEARCH('{${metricsNamespace},${clusterDimension},EventKind,service} MetricName="${metricNames.eventsReceived}" ${clusterDimension}="${clusterName}"', 'Sum', 300)`,
            label: 'events',
            period: Duration.minutes(5),
          }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Remediations',
        left: [
          metric(metricNames.volumesDetached),
          metric(metricNames.volumesForceDetached),
          metric(metricNames.attachmentsDeleted),
          metric(metricNames.finalizersRemoved),
          metric(metricNames.taintsChanged),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Latency from the event to volumes free (ms)',
        left: [
          metric(metricNames.remediationLatency, 'p50'),
          metric(metricNames.remediationLatency, 'p99'),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Failures and refusals',
        left: [
          metric(metricNames.failures),
          metric(metricNames.refusals),
          this.nodeLossFunction.metricErrors({ label: 'node-loss errors' }),
          this.sweepFunction.metricErrors({ label: 'sweep errors' }),
        ],
      }),
    );
    return dashboard;
  }
}
