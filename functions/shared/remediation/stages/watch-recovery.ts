/**
 * Watch the recovery: follow each pod that uses volumes and that this run evicted to its
 * replacement until it runs on a live Node (its volumes attached: a pod does not run before they
 * are mounted), for at most RECOVERY_WATCH_SECONDS, and report the time from the instance's
 * death. This is what users wait for, and no controller reports it. It changes nothing: a
 * replacement that does not come is reported with what it waits on, for an operator to look at.
 */
import type { PodRecovery } from '../../contract/result-events.ts';
import type { AttachmentFacts, PodFacts } from '../facts.ts';
import { defaultSleep } from '../polling.ts';
import type { KubernetesPort } from '../ports.ts';
import type { PodRef } from '../refs.ts';
import { notRecoveredEvent, recoveredEvent } from '../report-events.ts';
import type { EvictStep } from './evict-pods.ts';
import type { PlanBasics, Stage, StageRun } from './stage.ts';

export interface RecoveryStep {
  /** The pods to evict that use volumes: each is followed if this run's delete removed it. */
  readonly followPods: readonly PodRef[];
  /**
   * When the instance died (epoch ms), which the time to recover counts from: when EC2 says its
   * stop or termination was asked for (the workload went down then, and every invocation about
   * the instance reads the same time), else the time of the event that said it was off.
   */
  readonly diedAt?: number;
}

/** How often the replacements are read while watched. */
const pollMs = 500;

export const watchRecovery: Stage<RecoveryStep, EvictStep> = {
  name: 'watch the recovery',

  plan({ observation, before }) {
    const diedAt = observation.instance.stateChangeRequestedAt ?? observation.diedAt;
    return {
      followPods: (before.evictPods ?? []).filter((pod) => pod.usesVolumes),
      ...(diedAt === undefined ? {} : { diedAt }),
    };
  },

  // It only reads.
  plannedActions: () => [],

  async run(plan, run) {
    const watchMs = run.options.recoveryWatchMs ?? 0;
    // Followed by the invocation whose delete removed the pod: one delete of a uid succeeds, so
    // invocations about one instance at once (its shutting-down and terminated events) report
    // each pod once.
    const deleted = new Set(
      run.recorder.records
        .filter((r) => r.action === 'delete-pod' && r.outcome === 'done')
        .map((r) => r.pod),
    );
    const followPods = plan.followPods.filter((pod) => deleted.has(`${pod.namespace}/${pod.name}`));
    if (run.options.dryRun || watchMs <= 0 || followPods.length === 0) return 'next';
    const recoveries = await followReplacements({ ...plan, followPods }, watchMs, run);
    run.recorder.recoveries.push(...recoveries.map((r) => r.report));
    for (const { report, regarding } of recoveries) {
      run.deps.events?.record(
        report.outcome === 'recovered'
          ? recoveredEvent(regarding, report, plan)
          : notRecoveredEvent(regarding, report),
      );
    }
    return 'next';
  },
};

/** A replacement as last seen: the pod, and when it was first seen Running (epoch ms). */
interface Sighting {
  readonly pod?: PodFacts;
  readonly runningAt?: number;
}

/** A pod followed: what is reported, and the pod its Event goes on. */
interface Followed {
  readonly report: PodRecovery;
  readonly regarding: Pick<PodRef, 'namespace' | 'name' | 'uid'>;
}

async function followReplacements(
  plan: PlanBasics & RecoveryStep,
  watchMs: number,
  { deps }: StageRun,
): Promise<Followed[]> {
  const seen = new Map<PodRef, Sighting>();
  /** One look at a pod's replacement: true once there is nothing more to wait for. */
  const look = async (pod: PodRef): Promise<boolean> => {
    const before = seen.get(pod);
    if (before?.runningAt !== undefined) return true;
    const replacement = await replacementOf(pod, deps.kube, plan.nodeName);
    const now = Date.now();
    // Running at the first look: it started before the watch did, when its containers did.
    const runningAt =
      replacement?.phase !== 'Running'
        ? undefined
        : before === undefined
          ? Math.min(replacement.runningSince ?? now, now)
          : now;
    seen.set(pod, {
      ...(replacement ? { pod: replacement } : {}),
      ...(runningAt === undefined ? {} : { runningAt }),
    });
    // An unschedulable replacement will not run within the watch: reported at once.
    return runningAt !== undefined || replacement?.unschedulable !== undefined;
  };
  // A fixed, short gap (not pollUntil's growing one): the time reported is when it was seen.
  const sleep = deps.sleep ?? defaultSleep;
  const end = Math.min(Date.now() + watchMs, deps.deadline ?? Number.POSITIVE_INFINITY);
  for (;;) {
    // A failed read is "not yet": the next look may succeed.
    const looks = await Promise.all(plan.followPods.map((pod) => look(pod).catch(() => false)));
    if (looks.every(Boolean) || Date.now() >= end) break;
    await sleep(Math.min(pollMs, Math.max(0, end - Date.now())));
  }
  const waiting = [...seen.values()].some((s) => s.pod && s.runningAt === undefined);
  const attachments = waiting ? await deps.kube.listVolumeAttachments().catch(() => []) : [];
  return plan.followPods.map((pod) => followed(pod, seen.get(pod) ?? {}, plan.diedAt, attachments));
}

/**
 * The pod that replaces `pod`: a StatefulSet's (or an unowned pod's) has its name and another
 * uid; any other controller's is a pod of the same controller not on the dead Node.
 */
async function replacementOf(
  pod: PodRef,
  kube: KubernetesPort,
  deadNode: string | undefined,
): Promise<PodFacts | undefined> {
  if (!pod.owner || pod.owner.kind === 'StatefulSet') {
    const now = await kube.readPod(pod.namespace, pod.name);
    return now && now.uid !== pod.uid ? now : undefined;
  }
  const ownerUid = pod.owner.uid;
  const candidates = (await kube.listPods(pod.namespace)).filter(
    (p) => p.owner?.uid === ownerUid && p.uid !== pod.uid && !p.deleting && p.nodeName !== deadNode,
  );
  return candidates.find((p) => p.phase === 'Running') ?? candidates[0];
}

function followed(
  pod: PodRef,
  { pod: replacement, runningAt }: Sighting,
  diedAt: number | undefined,
  attachments: readonly AttachmentFacts[],
): Followed {
  const name = `${pod.namespace}/${pod.name}`;
  const regarding = replacement ?? pod;
  if (replacement && runningAt !== undefined) {
    return {
      regarding,
      report: {
        pod: name,
        outcome: 'recovered',
        replacement: `${replacement.namespace}/${replacement.name}`,
        ...(replacement.nodeName ? { node: replacement.nodeName } : {}),
        runningAt: new Date(runningAt).toISOString(),
        ...(diedAt === undefined
          ? {}
          : {
              diedAt: new Date(diedAt).toISOString(),
              secondsToRecover: Math.max(0, Math.round((runningAt - diedAt) / 100) / 10),
            }),
      },
    };
  }
  return {
    regarding,
    report: {
      pod: name,
      outcome: 'not-recovered-yet',
      ...(replacement ? { replacement: `${replacement.namespace}/${replacement.name}` } : {}),
      ...(replacement?.nodeName ? { node: replacement.nodeName } : {}),
      waitingOn: waitingOn(replacement, attachments),
    },
  };
}

/** What a replacement that does not run yet waits on, as far as the API says. */
function waitingOn(replacement: PodFacts | undefined, attachments: readonly AttachmentFacts[]) {
  if (!replacement) return 'no replacement pod yet: its controller has not made one';
  if (replacement.unschedulable) return `unschedulable: ${replacement.unschedulable}`;
  const node = replacement.nodeName;
  if (!node) return 'not scheduled yet';
  const onNode = attachments.filter((a) => a.nodeName === node && !a.attached);
  const failed = onNode.find((a) => a.attachError);
  if (failed)
    return `volume not attached to ${node}: ${failed.attachError} (VolumeAttachment ${failed.name})`;
  if (onNode.length > 0)
    return `volume being attached to ${node} (VolumeAttachment ${onNode[0]?.name})`;
  return `scheduled on ${node}, ${replacement.phase ?? 'Pending'}: its containers have not started`;
}
