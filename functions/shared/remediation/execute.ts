/**
 * The one executor: performs a plan's EC2 and Kubernetes calls. It is the only place that knows
 * about dry-run, checked right at each side effect.
 */

import type { ActionKind, ActionRecord } from '../contract/result-events.ts';
import { attacherFinalizerOf } from '../identity/volume-attachment-name.ts';
import { messageOf, RemediationError } from '../util/errors.ts';
import type { AttachmentFacts, PodFacts } from './facts.ts';
import {
  type AttachmentRef,
  type InstancePlan,
  type NodeRef,
  outOfServiceTaint,
  type PodRef,
  type VolumeTask,
} from './plan.ts';
import type { Ec2Port, KubernetesPort } from './ports.ts';

// The report's types are the public result event contract's.
export type { ActionKind, ActionRecord };

type Outcome = ActionRecord['outcome'];

function counter(kinds: readonly ActionKind[]) {
  return (actions: readonly ActionRecord[], outcomes: readonly Outcome[] = ['done']) =>
    actions.filter((a) => kinds.includes(a.action) && outcomes.includes(a.outcome)).length;
}

/** How many volumes these actions detached (or, with `planned`, would detach). */
export const volumesDetached = counter(['detach-volume', 'force-detach-volume']);

/** How many VolumeAttachments these actions deleted (or, with `planned`, would delete). */
export const attachmentsDeleted = counter(['delete-volumeattachment']);

/** How many pods these actions force-deleted (or, with `planned`, would). */
export const podsDeleted = counter(['delete-pod']);

/**
 * Destructive actions taken or, in dry-run, planned: what the circuit breaker counts (as
 * `destructiveActions` in plan.ts does before the first action; a dead Node's pods are not).
 */
export function destructiveActionsTaken(actions: readonly ActionRecord[]): number {
  return counter([
    'detach-volume',
    'force-detach-volume',
    'delete-volumeattachment',
    'taint-node',
    'delete-node',
  ])(actions, ['done', 'planned']);
}

export interface ExecutionOptions {
  readonly dryRun: boolean;
  /** How long the taint-eviction controller may take to delete a pod before it is force-deleted anyway. */
  readonly evictionGraceMs: number;
  /** How long the attach/detach controller and the attacher may take to free a fenced Node's volumes. */
  readonly controllerGraceMs: number;
  readonly detachTimeoutMs: number;
  readonly forceDetachTimeoutMs: number;
  readonly attacherGraceMs: number;
}

export interface ExecutionDeps {
  readonly ec2: Ec2Port;
  readonly kube: KubernetesPort;
  /** Called once per action as it finishes: one log line each. */
  readonly onAction?: (record: ActionRecord) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Whether EC2 has released a volume from an instance; shared by the plans executed together
   * (a sweep's batch) so that their checks share DescribeVolumes calls. Each execution makes its
   * own when absent.
   */
  readonly isReleased?: ReleaseChecker;
  /**
   * When the invocation must stop starting work (epoch ms), so it can report before Lambda's
   * timeout cuts it off: actions not started by then fail as "not started", waits end there.
   */
  readonly deadline?: number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How a wait ended: its condition met, or not, with the read that failed last if one did. */
interface Waited {
  readonly met: boolean;
  /** The error of the last check, when that check failed (the state is then unknown). */
  readonly lastError?: unknown;
}

/**
 * Polls until `done` holds or `timeoutMs` passes: at once, then after 500 ms, the gap growing
 * 1.5x up to 3 s (a plain detach usually takes 1 to 4 s; the CSI driver polls much the same).
 * A check that fails (a 500, a reset) counts as "not yet": one bad read must not end a wait
 * that the next read would finish; the caller learns of it when the wait runs out.
 */
async function pollUntil(
  done: () => Promise<boolean>,
  timeoutMs: number,
  deps: Pick<ExecutionDeps, 'sleep' | 'deadline'>,
  firstGap = 500,
  /** Wait one gap before the first check: for what cannot have happened a moment after our call. */
  waitFirst = false,
): Promise<Waited> {
  const sleep = deps.sleep ?? defaultSleep;
  const deadline = Math.min(Date.now() + timeoutMs, deps.deadline ?? Number.POSITIVE_INFINITY);
  let gap = firstGap;
  const check = async (): Promise<Waited> => {
    try {
      return { met: await done() };
    } catch (error) {
      return { met: false, lastError: error };
    }
  };
  if (waitFirst) {
    await sleep(Math.min(gap, Math.max(0, deadline - Date.now())));
    gap = Math.min(gap * 1.5, 3000);
  }
  while (Date.now() < deadline) {
    const result = await check();
    if (result.met) return result;
    await sleep(Math.min(gap, Math.max(0, deadline - Date.now())));
    gap = Math.min(gap * 1.5, 3000);
  }
  return check();
}

/** Throws, naming what was being checked, when the wait ended on a failed read. */
function unlessUnknown(waited: Waited, checking: string): boolean {
  if (!waited.met && waited.lastError !== undefined) {
    throw new RemediationError(`${checking}: ${messageOf(waited.lastError)}`, {
      cause: waited.lastError,
    });
  }
  return waited.met;
}

interface ActionResult {
  readonly outcome: ActionRecord['outcome'];
  readonly detail?: string;
  /** What the action turned out to be, when that differs from what it set out to do. */
  readonly action?: ActionKind;
}

/** The detail of an action the invocation had no time left to start. */
export const notStarted =
  'not started: the invocation stopped starting work before its timeout; the retry will do it';

class Recorder {
  readonly records: ActionRecord[] = [];
  private readonly instanceId: string;
  private readonly deps: Pick<ExecutionDeps, 'onAction' | 'deadline'>;

  constructor(instanceId: string, deps: Pick<ExecutionDeps, 'onAction' | 'deadline'>) {
    this.instanceId = instanceId;
    this.deps = deps;
  }

  /** Runs one action, timing it and recording its outcome; a failure is recorded, not thrown. */
  async run(
    action: ActionKind,
    target: Pick<ActionRecord, 'volumeId' | 'volumeAttachment' | 'node' | 'pod'>,
    perform: () => Promise<ActionResult>,
  ): Promise<ActionRecord> {
    const started = Date.now();
    const { deadline } = this.deps;
    let result: ActionResult;
    if (deadline !== undefined && started >= deadline && action !== 'controllers-detached') {
      // Started this late, it could be cut off half done; the retry of the event will do it.
      result = { outcome: 'failed', detail: notStarted };
    } else {
      try {
        result = await perform();
      } catch (error) {
        result = { outcome: 'failed', detail: messageOf(error) };
      }
    }
    const record: ActionRecord = {
      action: result.action ?? action,
      instanceId: this.instanceId,
      ...target,
      outcome: result.outcome,
      ...(result.detail ? { detail: result.detail } : {}),
      durationMs: Date.now() - started,
    };
    this.records.push(record);
    this.deps.onAction?.(record);
    return record;
  }
}

/** The states in which a forced detach may be used, checked again right before it. */
const forceStates = new Set(['stopped', 'terminated', 'gone']);

/**
 * How old an EC2 reading the taint may act on without asking EC2 again. The planner's reading is
 * taken alongside the last Kubernetes reads before the plan (observe.ts), so it is usually tens of
 * milliseconds old when the taint goes out: as current as a read made right before, without a
 * round trip of its own. A slower plan (a slow apiserver, a sweep's batch) is re-checked.
 */
export const stateFreshForMs = 1000;

/** How long release checks of concurrent volumes wait for each other to share one call. */
const releaseCheckWindowMs = 25;

export type ReleaseChecker = (volumeId: string, instanceId: string) => Promise<boolean>;

/**
 * Whether EC2 has released a volume from an instance. Checks made within a few milliseconds of
 * each other share one DescribeVolumes call, whichever instances they are about: a node with 26
 * volumes costs one call per polling round, not 26, and a sweep's batch of nodes about as few
 * (Describe calls share one rate limit).
 */
export function createReleaseChecker(ec2: Ec2Port): ReleaseChecker {
  type Waiter = {
    instanceId: string;
    resolve: (released: boolean) => void;
    reject: (error: unknown) => void;
  };
  let queued = new Map<string, Waiter[]>();
  const flush = async () => {
    const batch = queued;
    queued = new Map();
    try {
      const volumes = new Map(
        (await ec2.describeVolumes([...batch.keys()])).map((v) => [v.volumeId, v]),
      );
      for (const [volumeId, waiters] of batch) {
        for (const { instanceId, resolve } of waiters) {
          const attachments = volumes.get(volumeId)?.attachments ?? [];
          resolve(!attachments.some((a) => a.instanceId === instanceId && a.state !== 'detached'));
        }
      }
    } catch (error) {
      for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(error);
    }
  };
  return (volumeId, instanceId) =>
    new Promise<boolean>((resolve, reject) => {
      if (queued.size === 0) setTimeout(() => void flush(), releaseCheckWindowMs);
      queued.set(volumeId, [...(queued.get(volumeId) ?? []), { instanceId, resolve, reject }]);
    });
}

/** Frees one volume: detach (forced only as a last resort), then delete its VolumeAttachments. */
async function freeVolume(
  plan: Extract<InstancePlan, { outcome: 'remediate' }>,
  task: VolumeTask,
  deps: ExecutionDeps,
  options: ExecutionOptions,
  recorder: Recorder,
  isReleased: (volumeId: string) => Promise<boolean>,
): Promise<void> {
  const { ec2 } = deps;
  const { instanceId } = plan;
  const { volumeId } = task;
  const released = () => isReleased(volumeId);

  if (task.detach) {
    const detach = await recorder.run('detach-volume', { volumeId }, async () => {
      if (options.dryRun)
        return { outcome: 'planned', detail: `would detach ${task.detach?.device}` };
      const answer = await ec2.detachVolume(volumeId, instanceId, false);
      const checking = `checking whether EC2 released ${volumeId} from ${instanceId}`;
      if (unlessUnknown(await pollUntil(released, options.detachTimeoutMs, deps), checking)) {
        return { outcome: answer === 'already-detached' ? 'already-done' : 'done' };
      }
      const waited = `${options.detachTimeoutMs / 1000}s`;
      if (deps.deadline !== undefined && Date.now() >= deps.deadline) {
        // The wait was cut short: forcing now could be cut off half done.
        throw new Error(`${volumeId} still attached to ${instanceId}; force ${notStarted}`);
      }
      if (!plan.forceAllowed) {
        throw new Error(
          `${volumeId} still attached to ${instanceId} after ${waited}, and force is not ` +
            `allowed while the instance is ${plan.state}`,
        );
      }
      // Re-check right before the irreversible: an instance that came back keeps its volume.
      const current = (await ec2.describeInstances([instanceId])).get(instanceId)?.state;
      if (!current || !forceStates.has(current)) {
        throw new Error(
          `${volumeId} still attached to ${instanceId} after ${waited}, and EC2 now reports the ` +
            `instance ${current ?? 'unknown'}: no force detach`,
        );
      }
      await ec2.detachVolume(volumeId, instanceId, true);
      if (unlessUnknown(await pollUntil(released, options.forceDetachTimeoutMs, deps), checking)) {
        return {
          action: 'force-detach-volume',
          outcome: 'done',
          detail: `plain detach unfinished after ${waited}; forced`,
        };
      }
      throw new Error(
        `${volumeId} still attached to ${instanceId} ${options.forceDetachTimeoutMs / 1000}s after a forced detach`,
      );
    });
    if (detach.outcome === 'failed') return;
  }

  // Only now that EC2 no longer holds the volume on this instance may its attachments go.
  await Promise.all(
    task.attachments.map((ref) => deleteAttachment(ref, volumeId, deps, options, recorder)),
  );
}

async function deleteAttachment(
  ref: AttachmentRef,
  volumeId: string,
  deps: ExecutionDeps,
  options: ExecutionOptions,
  recorder: Recorder,
): Promise<void> {
  const { kube } = deps;
  const { name, uid } = ref;
  const target = { volumeId, volumeAttachment: name };
  let beingDeleted = false;
  await recorder.run('delete-volumeattachment', target, async () => {
    if (options.dryRun) return { outcome: 'planned' };
    const answer = await kube.deleteVolumeAttachment(name, uid);
    beingDeleted = answer !== 'not-found';
    // Counted once, by whoever's deletion landed: another run's counts as already done here.
    return { outcome: answer === 'deleted' ? 'done' : 'already-done' };
  });
  if (!beingDeleted) return;

  // A running external-attacher removes its finalizer within moments; give it that chance
  // (first a moment: it cannot have acted on a deletion that has only just landed).
  let last: AttachmentFacts | undefined;
  const waited = await pollUntil(
    async () => {
      last = await kube.readVolumeAttachment(name);
      return last === undefined;
    },
    options.attacherGraceMs,
    deps,
    500,
    true,
  );
  if (!waited.met && waited.lastError !== undefined) {
    // Whether the attacher let go is unknown: say so, so the run fails and its retry looks again.
    await recorder.run('remove-finalizer', target, async () => {
      throw new RemediationError(
        `reading VolumeAttachment ${name} to see whether its attacher released it: ${messageOf(waited.lastError)}`,
      );
    });
    return;
  }
  const gone = waited.met;
  const stuck = last;
  // Only the object deleted a moment ago: one created again under its name is someone else's.
  if (gone || !stuck || stuck.uid !== uid) return;
  const finalizer = attacherFinalizerOf(stuck.attacher);
  if (!stuck.finalizers.includes(finalizer)) return;
  await recorder.run('remove-finalizer', target, async () => {
    const removal = await kube.removeVolumeAttachmentFinalizer(name, finalizer, stuck);
    if (removal.outcome === 'gone') return { outcome: 'already-done' };
    if (removal.outcome === 'not-ours') return { outcome: 'refused', detail: removal.reason };
    return removal.remaining.length > 0
      ? { outcome: 'done', detail: `still held by finalizers ${removal.remaining.join(', ')}` }
      : { outcome: 'done', detail: 'no attacher answered: removed its finalizer' };
  });
}

/**
 * Executes a remediation plan in stages, each waiting on Kubernetes' own controllers before the
 * next: fence the Node (the out-of-service taint), evict its pods (force-delete them once the
 * taint-eviction controller's own delete has landed), let the attach/detach controller and the
 * attacher free the volumes, and only then free in EC2 and Kubernetes what they did not.
 * Returns every action's record; never throws for one action.
 */
export async function executeRemediation(
  plan: Extract<InstancePlan, { outcome: 'remediate' }>,
  deps: ExecutionDeps,
  options: ExecutionOptions,
): Promise<ActionRecord[]> {
  const recorder = new Recorder(plan.instanceId, deps);
  if (plan.taintNode) {
    const fence = await taintNode(plan, plan.taintNode, deps, options, recorder);
    // No taint, no eviction: an instance that came back keeps its Node, its pods and its
    // volumes, and a taint that failed leaves the whole instance to the retry.
    if (!fenced.has(fence.outcome)) return recorder.records;
  }
  const evictions = await Promise.all(
    plan.evictPods.map((pod) => evictPod(plan, pod, deps, options, recorder)),
  );
  // A pod still bound to the Node keeps its volumes there: the attach/detach controller would
  // attach back what was taken from under it.
  if (evictions.some((e) => e.outcome === 'failed')) {
    return recorder.records;
  }

  const releaseChecker = deps.isReleased ?? createReleaseChecker(deps.ec2);
  const isReleased = (volumeId: string) => releaseChecker(volumeId, plan.instanceId);
  const left =
    plan.controllersDetach && !options.dryRun
      ? await awaitControllers(plan, deps, options, recorder, isReleased)
      : plan.volumes;
  // Independent volumes at once: 20 volumes take about as long as one.
  await Promise.all(
    left.map((task) => freeVolume(plan, task, deps, options, recorder, isReleased)),
  );
  const { deleteNode } = plan;
  // Only a Node whose pods and volumes are all free: nothing of it is left to anyone.
  if (deleteNode && !recorder.records.some((r) => r.outcome === 'failed')) {
    await recorder.run('delete-node', { node: deleteNode.name }, async () => {
      if (options.dryRun) return { outcome: 'planned' };
      const answer = await deps.kube.deleteNode(deleteNode.name, deleteNode.uid);
      return { outcome: answer === 'deleted' ? 'done' : 'already-done' };
    });
  }
  return recorder.records;
}

/** How a taint stage lets the next stage go on: the Node carries the taint (or would, in dry-run). */
const fenced = new Set<ActionRecord['outcome']>(['done', 'already-done', 'planned']);

async function taintNode(
  plan: Extract<InstancePlan, { outcome: 'remediate' }>,
  nodeName: string,
  deps: ExecutionDeps,
  options: ExecutionOptions,
  recorder: Recorder,
): Promise<ActionRecord> {
  return recorder.run('taint-node', { node: nodeName }, async () => {
    if (options.dryRun) return { outcome: 'planned' };
    // The state must be current: the taint makes Kubernetes evict the Node's pods.
    const fresh =
      plan.stateReadAt !== undefined && Date.now() - plan.stateReadAt <= stateFreshForMs;
    const current = fresh
      ? { state: plan.state }
      : (await deps.ec2.describeInstances([plan.instanceId])).get(plan.instanceId);
    if (!current || !forceStates.has(current.state)) {
      return {
        outcome: 'refused',
        detail: `EC2 now reports the instance ${current?.state ?? 'unknown'}: not tainted`,
      };
    }
    const change = await deps.kube.addNodeTaint(nodeName, outOfServiceTaint, plan.nodeUid);
    const taint = `${outOfServiceTaint.key}=${outOfServiceTaint.value}:NoExecute`;
    switch (change) {
      case 'done':
        return { outcome: 'done', detail: taint };
      case 'already-done':
        return { outcome: 'already-done', detail: `${taint} was there already` };
      case 'not-ours':
        return {
          outcome: 'refused',
          detail: `another Node took the name ${nodeName} since it was observed: not tainted`,
        };
      case 'gone':
        throw new RemediationError(
          `tainting node ${nodeName}: it was deleted since it was listed; the retry plans its pods as a gone Node's`,
        );
    }
  });
}

/**
 * Force-deletes one pod of the dead Node with its uid as precondition. On a fenced Node only
 * once the taint-eviction controller's own delete has landed: that controller deletes by name,
 * and a force delete before its own would let it delete the StatefulSet's replacement, which
 * has the same name. However slow it is (a zone outage queues its work), it is never raced:
 * after the eviction grace the remediator deletes the pod gracefully itself (by uid: nothing
 * but that pod can be hit, and it only turns Terminating on a dead Node), which PodGC
 * force-deletes once the Node is NotReady, and the action fails so the retry looks again.
 */
async function evictPod(
  plan: Extract<InstancePlan, { outcome: 'remediate' }>,
  pod: PodRef,
  deps: ExecutionDeps,
  options: ExecutionOptions,
  recorder: Recorder,
): Promise<ActionRecord> {
  const { kube } = deps;
  const named = `${pod.namespace}/${pod.name}`;
  return recorder.run('delete-pod', { pod: named }, async () => {
    if (options.dryRun) return { outcome: 'planned' };
    if (plan.controllersDetach && !pod.evictedByTaintManager) {
      let current: PodFacts | undefined;
      // A pod that tolerates the taint for a while is evicted once that while is over.
      const graceMs = options.evictionGraceMs + (pod.toleratedForMs ?? 0);
      const waited = await pollUntil(
        async () => {
          current = await kube.readPod(pod.namespace, pod.name);
          return current === undefined || current.uid !== pod.uid || current.evictedByTaintManager;
        },
        graceMs,
        deps,
        100,
      );
      unlessUnknown(waited, `reading pod ${named} before deleting it`);
      if (current === undefined || current.uid !== pod.uid) return { outcome: 'already-done' };
      if (!waited.met) {
        if (!current.deleting) await kube.deletePod(pod.namespace, pod.name, pod.uid, 'graceful');
        const deleting = current.deleting
          ? 'someone else is deleting it'
          : `deleted it gracefully (uid ${pod.uid})`;
        throw new RemediationError(
          `pod ${named}: the taint-eviction controller had not evicted it after ` +
            `${graceMs / 1000}s; ${deleting}, so PodGC force-deletes it once the Node is ` +
            'NotReady; not force-deleted, since that controller deletes by name and could then ' +
            'delete the replacement (the retry of the event finishes it)',
        );
      }
    }
    const answer = await kube.deletePod(pod.namespace, pod.name, pod.uid, 'force');
    return { outcome: answer === 'deleted' ? 'done' : 'already-done' };
  });
}

/**
 * Waits, up to the controller grace, for the attach/detach controller and the attacher to free
 * the fenced Node's volumes (they detach at once once its pods are gone); returns the volume
 * tasks they left, for the remediator to finish itself.
 */
async function awaitControllers(
  plan: Extract<InstancePlan, { outcome: 'remediate' }>,
  deps: ExecutionDeps,
  options: ExecutionOptions,
  recorder: Recorder,
  isReleased: (volumeId: string) => Promise<boolean>,
): Promise<VolumeTask[]> {
  // Freed: EC2 no longer holds the volume on the instance, and each VolumeAttachment observed
  // is gone (one created again under its name is another object).
  const freed = async (task: VolumeTask) => {
    const [released, ...now] = await Promise.all([
      isReleased(task.volumeId),
      ...task.attachments.map((ref) => deps.kube.readVolumeAttachment(ref.name)),
    ]);
    return (
      released &&
      task.attachments.every((ref, i) => (ref.uid ? now[i]?.uid !== ref.uid : now[i] === undefined))
    );
  };
  let left = [...plan.volumes];
  await pollUntil(
    async () => {
      const done = await Promise.all(left.map(freed));
      for (const [i, task] of left.entries()) {
        if (!done[i]) continue;
        await recorder.run('controllers-detached', { volumeId: task.volumeId }, async () => ({
          outcome: 'done',
          detail: 'the attach/detach controller and the attacher freed it',
        }));
      }
      left = left.filter((_, i) => !done[i]);
      return left.length === 0;
    },
    options.controllerGraceMs,
    deps,
  );
  return left;
}

/** Lifts the out-of-service taint this project added, from the Node observed. */
export async function executeTaintLift(
  instanceId: string,
  node: NodeRef,
  deps: ExecutionDeps,
  options: Pick<ExecutionOptions, 'dryRun'>,
): Promise<ActionRecord[]> {
  const recorder = new Recorder(instanceId, deps);
  await recorder.run('lift-taint', { node: node.name }, async () => {
    if (options.dryRun) return { outcome: 'planned' };
    const change = await deps.kube.removeNodeTaint(node.name, outOfServiceTaint, node.uid);
    if (change === 'not-ours') {
      return {
        outcome: 'refused',
        detail: `another Node took the name ${node.name} since it was observed: its taints are its own`,
      };
    }
    return { outcome: change === 'done' ? 'done' : 'already-done' };
  });
  return recorder.records;
}
