import * as z from 'zod/mini';
import { ConfigurationError } from './util/errors.ts';

/** How the remediator reaches the Kubernetes API. */
export type ClusterAccess =
  | { readonly kind: 'eks'; readonly eksClusterName: string }
  | { readonly kind: 'kubeconfig-secret'; readonly secretArn: string }
  | { readonly kind: 'kubeconfig-file'; readonly path: string };

export type OnStopped = 'remediate' | 'ignore';

/** The settings every function reads from its environment at cold start. */
export interface Config {
  /** The cluster whose instances, Nodes and volumes the remediator may touch. */
  readonly clusterName: string;
  readonly clusterAccess: ClusterAccess;
  readonly dryRun: boolean;
  readonly onStopped: OnStopped;
  /**
   * A stopped instance configured for hibernation: left alone (`ignore`, the default), since it
   * may have hibernated and would resume with its memory and mounts; or remediated.
   */
  readonly onStoppedHibernationCapable: OnStopped;
  readonly outOfServiceTaint: boolean;
  /**
   * Delete the Node of a terminated (or gone) instance once its pods and volumes are free, for
   * clusters without a cloud node lifecycle (which EKS has): otherwise that Node stays NotReady.
   */
  readonly deleteTerminatedNodes: boolean;
  readonly resultEventBus: string | undefined;
  /** How long to wait for a plain DetachVolume before forcing it. */
  readonly detachTimeoutMs: number;
  /** How long to wait for a forced detach before giving up (and retrying the event). */
  readonly forceDetachTimeoutMs: number;
  /** How long a deleted VolumeAttachment may wait for its attacher before its finalizer is removed. */
  readonly attacherGraceMs: number;
  /**
   * How long the taint-eviction controller may take to delete a dead Node's pod; after it the
   * pod is deleted gracefully and left to PodGC (never force-deleted before that controller).
   */
  readonly evictionGraceMs: number;
  /** How long the attach/detach controller and the attacher may take to free a fenced Node's volumes before the remediator does. */
  readonly controllerGraceMs: number;
  /**
   * How long DescribeInstances may lag behind the state an event announced (EC2 is eventually
   * consistent) before the event is retried.
   */
  readonly ec2CatchUpMs: number;
  /** How long an instance that shuts down is watched for `terminated` within one invocation. */
  readonly shutdownWatchMs: number;
  /** The circuit breaker: more destructive actions than this in one invocation or sweep, and it refuses. */
  readonly maxActionsPerInvocation: number;
  /** The circuit breaker: more of the cluster's Nodes than this share (%) look dead, and it refuses. */
  readonly maxDeadNodePercent: number;
  /**
   * A label selector that limits the sweep to some Nodes (one node group, say); the
   * attachments of Nodes that no longer exist are then left to node-loss.
   */
  readonly nodeSelector: string | undefined;
  /** lifecycle only: the terminate lifecycle hooks it acts on; any other hook is left alone. */
  readonly lifecycleHookNames: readonly string[];
  /** lifecycle only: how long to wait for the node's VolumeAttachments before completing anyway. */
  readonly lifecycleWaitMs: number;
  /** lifecycle only: how often to send a heartbeat while waiting (below the hook's heartbeat timeout). */
  readonly lifecycleHeartbeatMs: number;
}

// zod/mini: the same checks as zod's chained API, without building every schema method at
// each cold start (about 20 ms of the functions' import, measured).
const booleanSetting = (fallback: boolean) =>
  z.pipe(
    z.optional(
      z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' }),
    ),
    z.transform((value) => (value === undefined ? fallback : ['true', '1', 'yes'].includes(value))),
  );

const seconds = (fallback: number) =>
  z.pipe(
    z._default(
      z.coerce
        .number({ error: 'must be a number of seconds' })
        .check(
          z.positive({ error: 'must be a number of seconds greater than 0' }),
          z.maximum(900, { error: 'must be at most 900 seconds (the Lambda maximum)' }),
        ),
      fallback,
    ),
    z.transform((value: number) => value * 1000),
  );

const optionalText = z.pipe(
  z.optional(z.string().check(z.trim())),
  z.transform((value) => (value ? value : undefined)),
);

const required = 'is required: the name of the cluster the remediator looks after';

const environmentSchema = z.object({
  CLUSTER_NAME: z.string({ error: required }).check(z.trim(), z.minLength(1, { error: required })),
  EKS_CLUSTER_NAME: optionalText,
  KUBECONFIG_SECRET_ARN: optionalText.check(
    z.refine((value) => !value || value.startsWith('arn:'), {
      error: 'must be the ARN of a Secrets Manager secret',
    }),
  ),
  KUBECONFIG: optionalText,
  DRY_RUN: booleanSetting(false),
  ON_STOPPED: z._default(
    z.enum(['remediate', 'ignore'], { error: 'must be remediate or ignore' }),
    'remediate',
  ),
  ON_STOPPED_HIBERNATION_CAPABLE: z._default(
    z.enum(['remediate', 'ignore'], { error: 'must be remediate or ignore' }),
    'ignore',
  ),
  OUT_OF_SERVICE_TAINT: booleanSetting(true),
  DELETE_TERMINATED_NODES: booleanSetting(false),
  RESULT_EVENT_BUS: optionalText,
  DETACH_TIMEOUT_SECONDS: seconds(20),
  FORCE_DETACH_TIMEOUT_SECONDS: seconds(30),
  ATTACHER_GRACE_SECONDS: seconds(5),
  EVICTION_GRACE_SECONDS: seconds(5),
  CONTROLLER_GRACE_SECONDS: seconds(15),
  EC2_CATCH_UP_SECONDS: seconds(20),
  SHUTDOWN_WATCH_SECONDS: seconds(60),
  MAX_ACTIONS_PER_INVOCATION: z._default(
    z.coerce
      .number({ error: 'must be a whole number' })
      .check(
        z.refine(Number.isInteger, { error: 'must be a whole number' }),
        z.positive({ error: 'must be at least 1' }),
      ),
    100,
  ),
  MAX_DEAD_NODE_PERCENT: z._default(
    z.coerce
      .number({ error: 'must be a percentage' })
      .check(
        z.minimum(0, { error: 'must be a percentage from 0 to 100' }),
        z.maximum(100, { error: 'must be a percentage from 0 to 100' }),
      ),
    50,
  ),
  MAX_VOLUMES_PER_INVOCATION: z.optional(
    z.undefined({
      error:
        'was renamed MAX_ACTIONS_PER_INVOCATION: the circuit breaker now counts every destructive action (detaches, VolumeAttachment deletions, taints); set that instead',
    }),
  ),
  NODE_SELECTOR: optionalText,
  LIFECYCLE_HOOK_NAMES: z.pipe(
    optionalText,
    z.transform((value) =>
      (value ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    ),
  ),
  LIFECYCLE_WAIT_SECONDS: seconds(600),
  LIFECYCLE_HEARTBEAT_SECONDS: seconds(60),
});

function clusterAccessFrom(env: z.infer<typeof environmentSchema>): ClusterAccess {
  const given = [
    env.EKS_CLUSTER_NAME && 'EKS_CLUSTER_NAME',
    env.KUBECONFIG_SECRET_ARN && 'KUBECONFIG_SECRET_ARN',
    env.KUBECONFIG && 'KUBECONFIG',
  ].filter(Boolean);
  if (given.length !== 1) {
    throw new ConfigurationError(
      'invalid configuration: set exactly one of EKS_CLUSTER_NAME (an EKS cluster), ' +
        'KUBECONFIG_SECRET_ARN (a kubeconfig in Secrets Manager) or KUBECONFIG (a kubeconfig file); ' +
        (given.length === 0 ? 'none is set' : `${given.join(' and ')} are set`),
    );
  }
  if (env.EKS_CLUSTER_NAME) return { kind: 'eks', eksClusterName: env.EKS_CLUSTER_NAME };
  if (env.KUBECONFIG_SECRET_ARN) {
    return { kind: 'kubeconfig-secret', secretArn: env.KUBECONFIG_SECRET_ARN };
  }
  return { kind: 'kubeconfig-file', path: env.KUBECONFIG ?? '' };
}

/**
 * Reads and validates the configuration. Every problem is named in one ConfigurationError, with
 * the variable and what it must be, so one deploy fixes them all.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    throw new ConfigurationError(`invalid configuration: ${problems.join('; ')}`);
  }
  const settings = parsed.data;
  return {
    clusterName: settings.CLUSTER_NAME,
    clusterAccess: clusterAccessFrom(settings),
    dryRun: settings.DRY_RUN,
    onStopped: settings.ON_STOPPED,
    onStoppedHibernationCapable: settings.ON_STOPPED_HIBERNATION_CAPABLE,
    outOfServiceTaint: settings.OUT_OF_SERVICE_TAINT,
    deleteTerminatedNodes: settings.DELETE_TERMINATED_NODES,
    resultEventBus: settings.RESULT_EVENT_BUS,
    detachTimeoutMs: settings.DETACH_TIMEOUT_SECONDS,
    forceDetachTimeoutMs: settings.FORCE_DETACH_TIMEOUT_SECONDS,
    attacherGraceMs: settings.ATTACHER_GRACE_SECONDS,
    evictionGraceMs: settings.EVICTION_GRACE_SECONDS,
    controllerGraceMs: settings.CONTROLLER_GRACE_SECONDS,
    ec2CatchUpMs: settings.EC2_CATCH_UP_SECONDS,
    shutdownWatchMs: settings.SHUTDOWN_WATCH_SECONDS,
    maxActionsPerInvocation: settings.MAX_ACTIONS_PER_INVOCATION,
    maxDeadNodePercent: settings.MAX_DEAD_NODE_PERCENT,
    nodeSelector: settings.NODE_SELECTOR,
    lifecycleHookNames: settings.LIFECYCLE_HOOK_NAMES,
    lifecycleWaitMs: settings.LIFECYCLE_WAIT_SECONDS,
    lifecycleHeartbeatMs: settings.LIFECYCLE_HEARTBEAT_SECONDS,
  };
}
