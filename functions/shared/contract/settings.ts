/**
 * The functions' settings: each one's environment variable and default. config.ts reads them,
 * the construct sets them, the command line's defaults are these, README's table is written from
 * them (`npm run docs`). Constants only.
 */

/** The environment variable of each setting. */
export const settingEnv = {
  clusterName: 'CLUSTER_NAME',
  eksClusterName: 'EKS_CLUSTER_NAME',
  kubeconfigSecretArn: 'KUBECONFIG_SECRET_ARN',
  kubeconfig: 'KUBECONFIG',
  dryRun: 'DRY_RUN',
  onStopped: 'ON_STOPPED',
  onStoppedHibernationCapable: 'ON_STOPPED_HIBERNATION_CAPABLE',
  outOfServiceTaint: 'OUT_OF_SERVICE_TAINT',
  deleteTerminatedNodes: 'DELETE_TERMINATED_NODES',
  resultEventBus: 'RESULT_EVENT_BUS',
  detachTimeoutSeconds: 'DETACH_TIMEOUT_SECONDS',
  forceDetachTimeoutSeconds: 'FORCE_DETACH_TIMEOUT_SECONDS',
  attacherGraceSeconds: 'ATTACHER_GRACE_SECONDS',
  evictionGraceSeconds: 'EVICTION_GRACE_SECONDS',
  controllerGraceSeconds: 'CONTROLLER_GRACE_SECONDS',
  ec2CatchUpSeconds: 'EC2_CATCH_UP_SECONDS',
  shutdownWatchSeconds: 'SHUTDOWN_WATCH_SECONDS',
  maxActionsPerInvocation: 'MAX_ACTIONS_PER_INVOCATION',
  maxDeadNodePercent: 'MAX_DEAD_NODE_PERCENT',
  nodeSelector: 'NODE_SELECTOR',
  lifecycleHookNames: 'LIFECYCLE_HOOK_NAMES',
  lifecycleWaitSeconds: 'LIFECYCLE_WAIT_SECONDS',
  lifecycleHeartbeatSeconds: 'LIFECYCLE_HEARTBEAT_SECONDS',
  fenceHungNodes: 'FENCE_HUNG_NODES',
  fenceAfterSeconds: 'FENCE_AFTER_SECONDS',
  fenceAction: 'FENCE_ACTION',
  maxFences: 'MAX_FENCES',
  fenceWindowSeconds: 'FENCE_WINDOW_SECONDS',
  recoveryWatchSeconds: 'RECOVERY_WATCH_SECONDS',
} as const;

/** What a stopped instance gets: remediated, or left alone. */
export const onStoppedChoices = ['remediate', 'ignore'] as const;

export type OnStopped = (typeof onStoppedChoices)[number];

/**
 * How a hung node is fenced: stopped (kept, with its root volume, for a post-mortem) or
 * terminated (its group replaces it).
 */
export const fenceActionChoices = ['stop', 'terminate'] as const;

export type FenceAction = (typeof fenceActionChoices)[number];

/** The default of each setting that has one. */
export const settingDefaults = {
  dryRun: false,
  onStopped: 'remediate',
  onStoppedHibernationCapable: 'ignore',
  outOfServiceTaint: true,
  deleteTerminatedNodes: false,
  detachTimeoutSeconds: 20,
  forceDetachTimeoutSeconds: 30,
  attacherGraceSeconds: 5,
  evictionGraceSeconds: 5,
  controllerGraceSeconds: 15,
  ec2CatchUpSeconds: 20,
  shutdownWatchSeconds: 60,
  maxActionsPerInvocation: 100,
  maxDeadNodePercent: 50,
  lifecycleWaitSeconds: 600,
  lifecycleHeartbeatSeconds: 60,
  fenceHungNodes: false,
  fenceAfterSeconds: 300,
  fenceAction: 'stop',
  maxFences: 1,
  fenceWindowSeconds: 600,
  recoveryWatchSeconds: 60,
} as const satisfies Partial<Record<keyof typeof settingEnv, unknown>>;

/** A setting that was renamed: its old variable is rejected with a message that says so. */
export const renamedSettings = {
  MAX_VOLUMES_PER_INVOCATION:
    'was renamed MAX_ACTIONS_PER_INVOCATION: the circuit breaker now counts every destructive action (detaches, VolumeAttachment deletions, taints); set that instead',
} as const;

/** What each setting means, and what stands in the default column where it has no default value: README's table. */
export const settingDocs: Record<
  keyof typeof settingEnv,
  { readonly meaning: string; readonly withoutDefault?: string }
> = {
  clusterName: {
    meaning:
      'the cluster whose instances and volumes may be touched (tag `kubernetes.io/cluster/<name>`, `eks:cluster-name`, `KubernetesCluster`)',
    withoutDefault: 'required',
  },
  eksClusterName: {
    meaning:
      'reach an EKS cluster: DescribeCluster and a presigned STS token, renewed before it expires',
    withoutDefault: 'one of three',
  },
  kubeconfigSecretArn: {
    meaning: 'reach a cluster through a kubeconfig stored as text in Secrets Manager',
    withoutDefault: 'one of three',
  },
  kubeconfig: {
    meaning: 'reach a cluster through a kubeconfig file (local runs, tests)',
    withoutDefault: 'one of three',
  },
  dryRun: {
    meaning: 'report every action, do none; a manual invoke can also ask with `"dryRun": true`',
  },
  onStopped: {
    meaning: '`ignore` leaves stopped instances alone',
  },
  onStoppedHibernationCapable: {
    meaning:
      '`remediate` frees the volumes of a stopped instance configured for hibernation too (see the safety list: one that did hibernate resumes with its mounts)',
  },
  outOfServiceTaint: {
    meaning:
      "taint the Node of a stopped or terminated instance out-of-service and evict its pods; with `false` nothing is evicted, and the volumes that pods of the dead Node use are left to Kubernetes' own timers (freeing them would only make the attach/detach controller attach them back)",
  },
  deleteTerminatedNodes: {
    meaning:
      'delete the Node of a terminated instance once its pods and volumes are free; for clusters without a cloud node lifecycle (EKS has one), where that Node otherwise stays NotReady for good. Needs `infra/kubernetes/rbac-delete-nodes.yaml`',
  },
  resultEventBus: {
    meaning: 'EventBridge bus (name or ARN) for result events',
    withoutDefault: 'none',
  },
  detachTimeoutSeconds: {
    meaning: 'wait for a plain detach before forcing',
  },
  forceDetachTimeoutSeconds: {
    meaning: 'wait for a forced detach before failing (and retrying the event)',
  },
  attacherGraceSeconds: {
    meaning: 'wait for the external-attacher before removing its finalizer',
  },
  evictionGraceSeconds: {
    meaning:
      "wait this long for the taint-eviction controller's delete of a dead Node's pod; after it, the pod is deleted gracefully by `uid` (never force-deleted before that controller's delete), left to PodGC, and the invocation fails for Lambda's retry",
  },
  controllerGraceSeconds: {
    meaning:
      "wait for the attach/detach controller and the attacher to free a fenced Node's volumes before freeing them itself",
  },
  ec2CatchUpSeconds: {
    meaning:
      'how long DescribeInstances may lag behind the state an event announced (EC2 is eventually consistent) before the invocation fails and Lambda retries the event',
  },
  shutdownWatchSeconds: {
    meaning:
      'how long an instance that is shutting down (a `shutting-down` or Auto Scaling "Terminate Successful" event) is watched for `terminated` before it is reported `waiting`',
  },
  maxActionsPerInvocation: {
    meaning:
      'circuit breaker: more destructive actions (detaches, VolumeAttachment deletions, taints, Node deletions; not pods) than this in one invocation (or one sweep), and it refuses; it replaces `MAX_VOLUMES_PER_INVOCATION`, which is now rejected with a message that says so',
  },
  maxDeadNodePercent: {
    meaning:
      "circuit breaker: more of the cluster's Nodes than this share (%) looking dead at once (NotReady, or being remediated), and it refuses",
  },
  nodeSelector: {
    meaning: 'sweep only: limit it to the Nodes matching this label selector',
    withoutDefault: 'none',
  },
  lifecycleHookNames: {
    meaning: 'lifecycle only: the hooks it may complete, comma-separated',
    withoutDefault: 'required by lifecycle',
  },
  lifecycleWaitSeconds: {
    meaning: "lifecycle only: how long to wait for the node's VolumeAttachments",
  },
  lifecycleHeartbeatSeconds: {
    meaning:
      "lifecycle only: the longest gap between heartbeats; shorter when the hook's own heartbeat timeout asks for it (half of it)",
  },
  fenceHungNodes: {
    meaning:
      'fence hung nodes: a Node NotReady whose Lease has not been renewed for `FENCE_AFTER_SECONDS` while EC2 says its instance runs is stopped (or terminated), then recovered as a stopped node. Off unless set; runs in the fence function (see "Hung nodes")',
  },
  fenceAfterSeconds: {
    meaning:
      "fence only a Node NotReady, and its Lease not renewed, for this long (300: when Kubernetes itself evicts the Node's pods); at least 40 (a kubelet's Lease lasts 40 s)",
  },
  fenceAction: {
    meaning:
      '`stop` (forced: a hung guest does not shut down cleanly) keeps the instance and its root volume for a post-mortem; `terminate` lets its group replace it',
  },
  maxFences: {
    meaning:
      'fence at most this many instances of the cluster in any `FENCE_WINDOW_SECONDS`; past it, hung nodes are refused and reported, not fenced',
  },
  fenceWindowSeconds: {
    meaning:
      'the window of the fence rate limit, read from the `ebs-volume-remediator/fenced-at` tag each fenced instance carries',
  },
  recoveryWatchSeconds: {
    meaning:
      "after acting, follow each evicted pod that uses volumes to its replacement Running for at most this long, and report the time to recover from the instance's death (`TimeToRecover`) or what it waits on; 0 turns it off. It ends sooner once every replacement runs (or cannot be scheduled), and always within the invocation's time",
  },
};
