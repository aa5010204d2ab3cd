/**
 * The construct: the functions, their role and dead-letter queue, what starts them and what
 * watches them. Each concern is its own module beside this one (props, remediator-function,
 * permissions, triggers, monitoring); this file puts them together.
 */
import {
  type aws_cloudwatch as cloudwatch,
  Duration,
  aws_iam as iam,
  type aws_lambda as lambda,
  type aws_sns as sns,
  aws_sqs as sqs,
  aws_sns_subscriptions as subscriptions,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { settingDefaults, settingEnv } from '../functions/shared/contract/settings.ts';
import { defaultBundleDir, requireBundles } from './bundles.ts';
import { fenceActionSetting, OnStopped } from './choices.ts';
import { resolveCluster } from './cluster.ts';
import { addAlarms, addDashboard, createAlarmTopic } from './monitoring.ts';
import { acknowledgeAcceptedFindings } from './nag-suppressions.ts';
import {
  addAccessEntry,
  grantFencing,
  grantLifecycleActions,
  grantRemediation,
} from './permissions.ts';
import type { EbsVolumeRemediatorProps, FenceHungNodesProps, LifecycleHookProps } from './props.ts';
import {
  createRemediatorFunction,
  type SharedFunctionProps,
  sharedEnvironment,
} from './remediator-function.ts';
import {
  addFenceTriggers,
  addLifecycleTriggers,
  addNodeLossRules,
  addSweepTriggers,
} from './triggers.ts';

export type {
  EbsVolumeRemediatorProps,
  FenceHungNodesProps,
  LifecycleHookProps,
} from './props.ts';

/** node-loss's reserved concurrency: 10 unless given; 0 reserves none. */
function nodeLossConcurrency(props: EbsVolumeRemediatorProps): number | undefined {
  const given = props.nodeLossReservedConcurrency ?? 10;
  if (!Number.isInteger(given) || given < 0) {
    throw new Error(
      `nodeLossReservedConcurrency must be a whole number, 0 for no reservation, not ${given}`,
    );
  }
  return given === 0 ? undefined : given;
}

/**
 * Deploys ebs-volume-remediator for one cluster: the node-loss and sweep functions (and the
 * lifecycle and fence functions when asked for), their EventBridge rules and schedules,
 * least-privilege IAM, a dead-letter queue, alarms and a dashboard.
 */
export class EbsVolumeRemediator extends Construct {
  /** Frees the volumes of instances EC2 reports stopped, terminated or gone. */
  readonly nodeLossFunction: lambda.Function;
  /** Sweeps the cluster for VolumeAttachments of dead nodes. */
  readonly sweepFunction: lambda.Function;
  /** Holds scale-in until the node's volumes are detached (with `lifecycleHook`). */
  readonly lifecycleFunction?: lambda.Function;
  /** Fences hung nodes (with `fenceHungNodes`). */
  readonly fenceFunction?: lambda.Function;
  /** The role node-loss, sweep and lifecycle run as. */
  readonly role: iam.Role;
  /** The fence function's own role: the same calls, and stopping the cluster's instances. */
  readonly fenceRole?: iam.Role;
  /** Events that failed every retry, kept for 14 days. */
  readonly deadLetterQueue: sqs.Queue;
  /** The topic every alarm notifies. */
  readonly alarmTopic: sns.ITopic;
  readonly alarms: cloudwatch.Alarm[];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: EbsVolumeRemediatorProps) {
    super(scope, id);
    const { props: settled, eksClusterName } = resolveCluster(props);
    const clusterName = settled.clusterName;
    const bundleDir = settled.bundleDir ?? defaultBundleDir();
    requireBundles(bundleDir, [
      'node-loss',
      'sweep',
      ...(settled.lifecycleHook ? ['lifecycle'] : []),
      ...(settled.fenceHungNodes ? ['fence'] : []),
    ]);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    // One role for the functions that free volumes: they make the same calls, and one access
    // entry maps it. Only the fence function, with a role of its own, may stop instances.
    this.role = this.createRole(
      'Role',
      `ebs-volume-remediator for cluster ${clusterName}`,
      settled.vpc !== undefined,
    );
    grantRemediation(this, this.role, settled, eksClusterName);

    const shared: SharedFunctionProps = {
      props: settled,
      bundleDir,
      role: this.role,
      environment: sharedEnvironment(settled, eksClusterName),
      deadLetterQueue: this.deadLetterQueue,
    };
    this.nodeLossFunction = createRemediatorFunction(
      this,
      'NodeLossFunction',
      {
        bundle: 'node-loss',
        description: `Frees the EBS volumes of dead nodes of cluster ${clusterName}`,
        // A plain detach (20 s), a forced one (30 s), the attacher's grace (5 s) and the watch of
        // the replacements (RECOVERY_WATCH_SECONDS, 60 s), with room.
        timeout: Duration.minutes(3),
        reservedConcurrentExecutions: nodeLossConcurrency(settled),
      },
      shared,
    );
    this.sweepFunction = createRemediatorFunction(
      this,
      'SweepFunction',
      {
        bundle: 'sweep',
        description: `Sweeps cluster ${clusterName} for VolumeAttachments of dead nodes`,
        // The sweep stops starting batches about a minute before this.
        timeout: Duration.minutes(10),
        // A dry-run sweep of 5,000 nodes peaked under 500 MiB in the benchmarks (BENCHMARKS.md).
        memorySize: 1024,
      },
      shared,
    );
    if (settled.lifecycleHook) {
      this.lifecycleFunction = this.addLifecycle(settled.lifecycleHook, shared);
    }

    if (settled.fenceHungNodes) {
      this.fenceRole = this.createRole(
        'FenceRole',
        `ebs-volume-remediator fence for cluster ${clusterName}`,
        settled.vpc !== undefined,
      );
      grantRemediation(this, this.fenceRole, settled, eksClusterName);
      this.fenceFunction = this.addFence(settled.fenceHungNodes, shared, this.fenceRole);
    }

    if (eksClusterName && (settled.createAccessEntry ?? true)) {
      addAccessEntry(this, this.role, eksClusterName);
      if (this.fenceRole) addAccessEntry(this, this.fenceRole, eksClusterName, 'FenceAccessEntry');
    }

    addNodeLossRules(this, this.nodeLossFunction, this.deadLetterQueue);
    addSweepTriggers(this, this.sweepFunction, this.deadLetterQueue, settled);
    this.alarmTopic = settled.alarmTopic ?? createAlarmTopic(this);
    if (settled.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(settled.alarmEmail));
    }
    this.alarms = addAlarms(this, {
      clusterName,
      functions: [
        { id: 'NodeLoss', name: 'node-loss', fn: this.nodeLossFunction },
        { id: 'Sweep', name: 'sweep', fn: this.sweepFunction },
        ...(this.lifecycleFunction
          ? [{ id: 'Lifecycle', name: 'lifecycle', fn: this.lifecycleFunction }]
          : []),
        ...(this.fenceFunction
          ? [{ id: 'Fence', name: 'fence', fn: this.fenceFunction, throttlesExpected: true }]
          : []),
      ],
      deadLetterQueue: this.deadLetterQueue,
      alarmTopic: this.alarmTopic,
      fencing: this.fenceFunction !== undefined,
    });
    this.dashboard = addDashboard(this, clusterName, {
      nodeLoss: this.nodeLossFunction,
      sweep: this.sweepFunction,
      ...(this.fenceFunction ? { fence: this.fenceFunction } : {}),
    });
    acknowledgeAcceptedFindings(this, this.deadLetterQueue);
  }

  private createRole(id: string, description: string, inVpc: boolean): iam.Role {
    return new iam.Role(this, id, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description,
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName(
          inVpc
            ? 'service-role/AWSLambdaVPCAccessExecutionRole'
            : 'service-role/AWSLambdaBasicExecutionRole',
        ),
      ],
    });
  }

  /** The fence function, its schedule and alarms, and its own calls. */
  private addFence(
    fence: FenceHungNodesProps,
    shared: SharedFunctionProps,
    role: iam.Role,
  ): lambda.Function {
    const action = fence.action ? fenceActionSetting(fence.action) : settingDefaults.fenceAction;
    const fenceAfter = fence.fenceAfter?.toSeconds() ?? settingDefaults.fenceAfterSeconds;
    if (fenceAfter < 40) {
      throw new Error(
        "fenceHungNodes.fenceAfter must be at least 40 seconds (a kubelet's Lease lasts 40 s)",
      );
    }
    if (action === 'stop' && shared.props.onStopped === OnStopped.IGNORE) {
      throw new Error(
        'fenceHungNodes with FenceAction.STOP needs onStopped OnStopped.REMEDIATE: a fenced node is recovered as a stopped one',
      );
    }
    const fn = createRemediatorFunction(
      this,
      'FenceFunction',
      {
        bundle: 'fence',
        description: `Fences hung nodes of cluster ${shared.props.clusterName}, then frees their volumes`,
        // A forced stop takes seconds to minutes; the recovery after it a minute at most.
        timeout: Duration.minutes(10),
        // One check at a time: the rate limit is read and written by one invocation only.
        reservedConcurrentExecutions: 1,
        environment: {
          // The fence's own dry-run covers all it does: the schedule's checks and the alarms'.
          ...(fence.dryRun === undefined ? {} : { [settingEnv.dryRun]: String(fence.dryRun) }),
          [settingEnv.fenceHungNodes]: 'true',
          [settingEnv.fenceAfterSeconds]: String(fenceAfter),
          [settingEnv.fenceAction]: action,
          [settingEnv.maxFences]: String(fence.maxFences ?? settingDefaults.maxFences),
          [settingEnv.fenceWindowSeconds]: String(
            fence.window?.toSeconds() ?? settingDefaults.fenceWindowSeconds,
          ),
        },
      },
      { ...shared, role },
    );
    addFenceTriggers(this, fn, this.deadLetterQueue, fence);
    grantFencing(this, role, shared.props.clusterName, action);
    return fn;
  }

  /** The lifecycle function, its trigger, its hooks (when asked for) and its calls. */
  private addLifecycle(hook: LifecycleHookProps, shared: SharedFunctionProps): lambda.Function {
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
    const fn = createRemediatorFunction(
      this,
      'LifecycleFunction',
      {
        bundle: 'lifecycle',
        description: `Holds scale-in of cluster ${shared.props.clusterName} until its nodes' volumes are detached`,
        timeout: Duration.seconds(waitBudget.toSeconds() + 120),
        environment: {
          [settingEnv.lifecycleHookNames]: hook.hookName,
          [settingEnv.lifecycleWaitSeconds]: String(waitBudget.toSeconds()),
          // Three heartbeats per heartbeat timeout: one late call never lets the hook expire.
          [settingEnv.lifecycleHeartbeatSeconds]: String(
            Math.max(10, Math.floor(heartbeatTimeout.toSeconds() / 3)),
          ),
        },
      },
      shared,
    );
    addLifecycleTriggers(this, fn, this.deadLetterQueue, hook, heartbeatTimeout);
    grantLifecycleActions(this, this.role, hook);
    return fn;
  }
}
