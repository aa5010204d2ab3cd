import * as z from 'zod/mini';
import {
  type FenceAction,
  fenceActionChoices,
  type OnStopped,
  onStoppedChoices,
  renamedSettings,
  settingDefaults,
  settingEnv,
} from './contract/settings.ts';
import { ConfigurationError } from './util/errors.ts';

/** How the remediator reaches the Kubernetes API. */
export type ClusterAccess =
  | { readonly kind: 'eks'; readonly eksClusterName: string }
  | { readonly kind: 'kubeconfig-secret'; readonly secretArn: string }
  | { readonly kind: 'kubeconfig-file'; readonly path: string };

export type { FenceAction, OnStopped };

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
  /** fence only: fence hung nodes at all (opt-in). */
  readonly fenceHungNodes: boolean;
  /** fence only: how long a Node must be NotReady with its Lease not renewed before it is fenced. */
  readonly fenceAfterMs: number;
  readonly fenceAction: FenceAction;
  /** fence only: at most this many fences of the cluster's instances in any `fenceWindowMs`. */
  readonly maxFences: number;
  readonly fenceWindowMs: number;
  /** How long evicted pods are followed to their replacement Running; 0: not at all. */
  readonly recoveryWatchMs: number;
}

// zod/mini: the same checks as zod's chained API, without building every schema method at
// each cold start (about 20 ms of the functions' import, measured). A setting not given is left
// undefined here: its default is the settings contract's, applied in one place (withDefaults).
const booleanSetting = z.pipe(
  z.optional(z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })),
  z.transform((value) => (value === undefined ? undefined : ['true', '1', 'yes'].includes(value))),
);

const secondsSetting = z.pipe(
  z.optional(
    z.coerce
      .number({ error: 'must be a number of seconds' })
      .check(
        z.positive({ error: 'must be a number of seconds greater than 0' }),
        z.maximum(900, { error: 'must be at most 900 seconds (the Lambda maximum)' }),
      ),
  ),
  z.transform((value) => (value === undefined ? undefined : value * 1000)),
);

/** ON_STOPPED and ON_STOPPED_HIBERNATION_CAPABLE: one of the choices. */
export const onStoppedChoice = z.enum(onStoppedChoices, {
  error: `must be ${onStoppedChoices.join(' or ')}`,
});

const onStoppedSetting = z.optional(onStoppedChoice);

/** MAX_ACTIONS_PER_INVOCATION: a whole number, at least 1. */
export const maxActionsSetting = z.coerce
  .number({ error: 'must be a whole number' })
  .check(
    z.refine(Number.isInteger, { error: 'must be a whole number' }),
    z.positive({ error: 'must be at least 1' }),
  );

/** MAX_DEAD_NODE_PERCENT: a percentage. */
export const maxDeadNodePercentSetting = z.coerce
  .number({ error: 'must be a percentage' })
  .check(
    z.minimum(0, { error: 'must be a percentage from 0 to 100' }),
    z.maximum(100, { error: 'must be a percentage from 0 to 100' }),
  );

/** A duration that may pass Lambda's limit: it is read against clocks, not waited out. */
function longSecondsSetting(minimum: number) {
  return z.pipe(
    z.optional(
      z.coerce
        .number({ error: 'must be a number of seconds' })
        .check(
          z.minimum(minimum, { error: `must be at least ${minimum} seconds` }),
          z.maximum(86_400, { error: 'must be at most 86400 seconds (a day)' }),
        ),
    ),
    z.transform((value) => (value === undefined ? undefined : value * 1000)),
  );
}

/** FENCE_AFTER_SECONDS: a kubelet's Lease lasts 40 s; one not renewed for less is not stale. */
export const fenceAfterSetting = longSecondsSetting(40);

/** FENCE_WINDOW_SECONDS: any length of time. */
export const fenceWindowSetting = longSecondsSetting(1);

/** RECOVERY_WATCH_SECONDS: 0 (off) up to what a function's time allows. */
export const recoveryWatchSetting = z.pipe(
  z.optional(
    z.coerce.number({ error: 'must be a number of seconds' }).check(
      z.minimum(0, { error: 'must be 0 (off) or more seconds' }),
      z.maximum(600, {
        error: 'must be at most 600 seconds: the watch runs within the invocation',
      }),
    ),
  ),
  z.transform((value) => (value === undefined ? undefined : value * 1000)),
);

/** FENCE_ACTION: one of the choices. */
export const fenceActionChoice = z.enum(fenceActionChoices, {
  error: `must be ${fenceActionChoices.join(' or ')}`,
});

const optionalText = z.pipe(
  z.optional(z.string().check(z.trim())),
  z.transform((value) => (value ? value : undefined)),
);

const required = 'is required: the name of the cluster the remediator looks after';
const env = settingEnv;

const environmentSchema = z.object({
  [env.clusterName]: z
    .string({ error: required })
    .check(z.trim(), z.minLength(1, { error: required })),
  [env.eksClusterName]: optionalText,
  [env.kubeconfigSecretArn]: optionalText.check(
    z.refine((value) => !value || value.startsWith('arn:'), {
      error: 'must be the ARN of a Secrets Manager secret',
    }),
  ),
  [env.kubeconfig]: optionalText,
  [env.dryRun]: booleanSetting,
  [env.onStopped]: onStoppedSetting,
  [env.onStoppedHibernationCapable]: onStoppedSetting,
  [env.outOfServiceTaint]: booleanSetting,
  [env.deleteTerminatedNodes]: booleanSetting,
  [env.resultEventBus]: optionalText,
  [env.detachTimeoutSeconds]: secondsSetting,
  [env.forceDetachTimeoutSeconds]: secondsSetting,
  [env.attacherGraceSeconds]: secondsSetting,
  [env.evictionGraceSeconds]: secondsSetting,
  [env.controllerGraceSeconds]: secondsSetting,
  [env.ec2CatchUpSeconds]: secondsSetting,
  [env.shutdownWatchSeconds]: secondsSetting,
  [env.maxActionsPerInvocation]: z.optional(maxActionsSetting),
  [env.maxDeadNodePercent]: z.optional(maxDeadNodePercentSetting),
  ...Object.fromEntries(
    Object.entries(renamedSettings).map(([name, error]) => [
      name,
      z.optional(z.undefined({ error })),
    ]),
  ),
  [env.nodeSelector]: optionalText,
  [env.lifecycleHookNames]: z.pipe(
    optionalText,
    z.transform((value) =>
      (value ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    ),
  ),
  [env.lifecycleWaitSeconds]: secondsSetting,
  [env.lifecycleHeartbeatSeconds]: secondsSetting,
  [env.fenceHungNodes]: booleanSetting,
  [env.fenceAfterSeconds]: fenceAfterSetting,
  [env.fenceAction]: z.optional(fenceActionChoice),
  [env.maxFences]: z.optional(maxActionsSetting),
  [env.fenceWindowSeconds]: fenceWindowSetting,
  [env.recoveryWatchSeconds]: recoveryWatchSetting,
});

type Environment = z.infer<typeof environmentSchema>;

function clusterAccessFrom(given: Environment): ClusterAccess {
  const ways = [env.eksClusterName, env.kubeconfigSecretArn, env.kubeconfig] as const;
  const set = ways.filter((name) => given[name]);
  if (set.length !== 1) {
    throw new ConfigurationError(
      `invalid configuration: set exactly one of ${env.eksClusterName} (an EKS cluster), ` +
        `${env.kubeconfigSecretArn} (a kubeconfig in Secrets Manager) or ${env.kubeconfig} (a kubeconfig file); ` +
        (set.length === 0 ? 'none is set' : `${set.join(' and ')} are set`),
    );
  }
  const eksClusterName = given[env.eksClusterName];
  if (eksClusterName) return { kind: 'eks', eksClusterName };
  const secretArn = given[env.kubeconfigSecretArn];
  if (secretArn) return { kind: 'kubeconfig-secret', secretArn };
  return { kind: 'kubeconfig-file', path: given[env.kubeconfig] ?? '' };
}

const d = settingDefaults;

/** Every setting's default, from the settings contract. */
const defaults: Omit<Config, 'clusterName' | 'clusterAccess'> = {
  dryRun: d.dryRun,
  onStopped: d.onStopped,
  onStoppedHibernationCapable: d.onStoppedHibernationCapable,
  outOfServiceTaint: d.outOfServiceTaint,
  deleteTerminatedNodes: d.deleteTerminatedNodes,
  resultEventBus: undefined,
  detachTimeoutMs: d.detachTimeoutSeconds * 1000,
  forceDetachTimeoutMs: d.forceDetachTimeoutSeconds * 1000,
  attacherGraceMs: d.attacherGraceSeconds * 1000,
  evictionGraceMs: d.evictionGraceSeconds * 1000,
  controllerGraceMs: d.controllerGraceSeconds * 1000,
  ec2CatchUpMs: d.ec2CatchUpSeconds * 1000,
  shutdownWatchMs: d.shutdownWatchSeconds * 1000,
  maxActionsPerInvocation: d.maxActionsPerInvocation,
  maxDeadNodePercent: d.maxDeadNodePercent,
  nodeSelector: undefined,
  lifecycleHookNames: [],
  lifecycleWaitMs: d.lifecycleWaitSeconds * 1000,
  lifecycleHeartbeatMs: d.lifecycleHeartbeatSeconds * 1000,
  fenceHungNodes: d.fenceHungNodes,
  fenceAfterMs: d.fenceAfterSeconds * 1000,
  fenceAction: d.fenceAction,
  maxFences: d.maxFences,
  fenceWindowMs: d.fenceWindowSeconds * 1000,
  recoveryWatchMs: d.recoveryWatchSeconds * 1000,
};

/** The settings given, typed; every other one takes its default. */
export type ConfigInput = Pick<Config, 'clusterName' | 'clusterAccess'> & {
  readonly [K in Exclude<keyof Config, 'clusterName' | 'clusterAccess'>]?: Config[K] | undefined;
};

/** A Config from the settings given (the environment's, or the command line's), with defaults for the rest. */
export function withDefaults(given: ConfigInput): Config {
  const set = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
  const config = { ...defaults, ...set } as Config;
  // A fenced node is recovered as a stopped one: with stopped nodes ignored, its volumes would
  // stay held by an instance the remediator itself stopped.
  if (config.fenceHungNodes && config.fenceAction === 'stop' && config.onStopped === 'ignore') {
    throw new ConfigurationError(
      `invalid configuration: ${env.fenceHungNodes} with ${env.fenceAction}=stop needs ${env.onStopped}=remediate ` +
        '(a fenced node is recovered as a stopped one); set ON_STOPPED=remediate or FENCE_ACTION=terminate',
    );
  }
  return config;
}

/**
 * Reads and validates the configuration. Every problem is named in one ConfigurationError, with
 * the variable and what it must be, so one deploy fixes them all.
 */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    throw new ConfigurationError(`invalid configuration: ${problems.join('; ')}`);
  }
  const given = parsed.data;
  return withDefaults({
    clusterName: given[env.clusterName],
    clusterAccess: clusterAccessFrom(given),
    dryRun: given[env.dryRun],
    onStopped: given[env.onStopped],
    onStoppedHibernationCapable: given[env.onStoppedHibernationCapable],
    outOfServiceTaint: given[env.outOfServiceTaint],
    deleteTerminatedNodes: given[env.deleteTerminatedNodes],
    resultEventBus: given[env.resultEventBus],
    detachTimeoutMs: given[env.detachTimeoutSeconds],
    forceDetachTimeoutMs: given[env.forceDetachTimeoutSeconds],
    attacherGraceMs: given[env.attacherGraceSeconds],
    evictionGraceMs: given[env.evictionGraceSeconds],
    controllerGraceMs: given[env.controllerGraceSeconds],
    ec2CatchUpMs: given[env.ec2CatchUpSeconds],
    shutdownWatchMs: given[env.shutdownWatchSeconds],
    maxActionsPerInvocation: given[env.maxActionsPerInvocation],
    maxDeadNodePercent: given[env.maxDeadNodePercent],
    nodeSelector: given[env.nodeSelector],
    lifecycleHookNames: given[env.lifecycleHookNames],
    lifecycleWaitMs: given[env.lifecycleWaitSeconds],
    lifecycleHeartbeatMs: given[env.lifecycleHeartbeatSeconds],
    fenceHungNodes: given[env.fenceHungNodes],
    fenceAfterMs: given[env.fenceAfterSeconds],
    fenceAction: given[env.fenceAction],
    maxFences: given[env.maxFences],
    fenceWindowMs: given[env.fenceWindowSeconds],
    recoveryWatchMs: given[env.recoveryWatchSeconds],
  });
}
