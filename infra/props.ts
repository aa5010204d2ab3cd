/**
 * The construct's props: what a user of the construct sets. Each prop's default is said with
 * `@default`; a default shared with the functions is the settings contract's.
 */
import type {
  aws_cloudwatch as cloudwatch,
  Duration,
  aws_ec2 as ec2,
  aws_eks as eks,
  aws_eks_v2 as eksv2,
  aws_events as events,
  aws_kms as kms,
  aws_logs as logs,
  aws_secretsmanager as secretsmanager,
  aws_sns as sns,
} from 'aws-cdk-lib';
import type { FenceAction, OnStopped } from './choices.ts';

/**
 * Fencing of hung nodes (opt-in): a Node NotReady whose Lease has not been renewed for
 * `fenceAfter` while EC2 says its instance runs is stopped (forced) or terminated, then
 * recovered as a stopped (terminated) node. A false positive costs a node stopped.
 */
export interface FenceHungNodesProps {
  /**
   * How long a Node must be NotReady with its Lease not renewed before it is fenced.
   * @default 5 minutes (when Kubernetes itself evicts the Node's pods)
   */
  readonly fenceAfter?: Duration;
  /**
   * `FenceAction.STOP` keeps the instance and its root volume for a post-mortem;
   * `FenceAction.TERMINATE` lets its group replace it. IAM grants only the action chosen.
   * @default FenceAction.STOP
   */
  readonly action?: FenceAction;
  /**
   * At most this many fences of the cluster's instances within `window`.
   * @default 1
   */
  readonly maxFences?: number;
  /**
   * The rate limit's window.
   * @default 10 minutes
   */
  readonly window?: Duration;
  /**
   * How often the fence function looks for hung nodes.
   * @default every minute
   */
  readonly schedule?: events.Schedule;
  /**
   * Look for hung nodes on `schedule`; `false` for alarms and manual invokes only.
   * @default true
   */
  readonly scheduled?: boolean;
  /**
   * Alarms whose entering ALARM asks the fence function to judge the instance they name
   * (StatusCheckFailed with an `InstanceId` dimension) at once, without waiting `fenceAfter`:
   * fenced when its Node agrees (NotReady, its Lease expired).
   * @default none
   */
  readonly alarms?: cloudwatch.IAlarm[];
  /**
   * Report what would be fenced, fence nothing (whatever starts the check: the schedule, an
   * alarm, a manual invoke), to watch it before letting it act.
   * @default the same as `dryRun`
   */
  readonly dryRun?: boolean;
}

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

/** An EKS cluster construct of either of aws-cdk-lib's EKS modules. */
export type ClusterConstruct = eks.ICluster | eksv2.ICluster;

export interface EbsVolumeRemediatorProps {
  /**
   * The Kubernetes cluster whose dead nodes' volumes are freed. IAM lets volumes be detached
   * only from instances tagged for it (`kubernetes.io/cluster/<name>`, `eks:cluster-name`,
   * `KubernetesCluster`); the function detaches only volumes a PersistentVolume or
   * VolumeAttachment of the cluster names.
   * @default the name of `cluster`; one of the two must be given
   */
  readonly clusterName?: string;

  /**
   * The EKS cluster, as the app defines or imports it (`aws_eks_v2` or `aws_eks`): the construct
   * takes its name, and creates the access entry on it (after it, when the app creates the
   * cluster). A cluster the app creates must be given its name (its `clusterName`), which the
   * IAM policy needs when the app synthesizes.
   * @default none: the cluster is the one `clusterName` names
   */
  readonly cluster?: ClusterConstruct;

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
   * @default OnStopped.REMEDIATE
   */
  readonly onStopped?: OnStopped;

  /**
   * What to do for a stopped instance configured for hibernation: leave it alone (it may have
   * hibernated, and would resume with its memory and mounts), or free its volumes too.
   * @default OnStopped.IGNORE
   */
  readonly onStoppedHibernationCapable?: OnStopped;

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
   * finished 50 dead nodes in the benchmark (BENCHMARKS.md, "Zone outage"). `0` reserves
   * none (an account whose concurrency limit is under 110 cannot reserve any); it does not
   * stop the function, as a reserved concurrency of 0 would in Lambda.
   * @default 10
   */
  readonly nodeLossReservedConcurrency?: number;

  /**
   * A label selector that limits the sweep to some Nodes, such as one node group.
   * @default every Node
   */
  readonly sweepNodeSelector?: string;

  /**
   * When the sweep runs.
   * @default every 15 minutes
   */
  readonly sweepSchedule?: events.Schedule;

  /**
   * Run the sweep on `sweepSchedule`; `false` for manual invokes and alarms only.
   * @default true
   */
  readonly sweepScheduled?: boolean;

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
   * Fence hung nodes (a kernel hang, a dead kubelet, a partition: NotReady while EC2 says
   * running), then recover them as stopped nodes. Off unless given; see README, "Hung nodes".
   * @default none: hung nodes are left to Kubernetes and to whatever replaces them
   */
  readonly fenceHungNodes?: FenceHungNodesProps;

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
