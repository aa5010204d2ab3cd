// The headline benchmark: time to recover. A StatefulSet replica's node dies on the full control
// plane (kube-controller-manager, kube-scheduler, the external-attacher, simulated kubelets, every
// Kubernetes timer at its default); measured, in seconds from the death, until the replacement pod
// is Running on another node with its volume, with Kubernetes alone and with the built node-loss
// bundle invoked with the real EventBridge event. Also counted: VolumeAttachments created again
// for the dead node and attaches of the volume to the dead instance (fights with the controllers).

import { settingDefaults } from '../functions/shared/contract/settings.ts';
import { awsCloudControllerVersion } from '../test/support/aws-cloud-controller.ts';
import { type BundleInvocation, invokeBundleAsync } from '../test/support/bundle-process.ts';
import type { RunningControlPlane } from '../test/support/control-plane.ts';
import { ebsCsiDriverVersion } from '../test/support/control-plane.ts';
import {
  type Ec2Timings,
  type Ec2Transition,
  ec2Timings,
  transitionsPath,
} from '../test/support/ec2-as-it-behaves/index.ts';
import { awsEnvironmentFor } from '../test/support/endpoints.ts';
import {
  atLeastOnce,
  type Delivered,
  deliverDeathEvents,
} from '../test/support/eventbridge-delivery.ts';
import { beforeDeath, type RecoveryTimeline, watchRecovery } from '../test/support/recovery.ts';
import { eventSample } from '../test/support/samples.ts';
import { StatefulCluster, sleep } from '../test/support/stateful-cluster.ts';

export interface RecoveryScenario {
  readonly id: string;
  readonly title: string;
  /** `hung`: the kubelet hangs while EC2 keeps the instance running; the fence function acts. */
  readonly death: 'terminated' | 'stopped' | 'hung';
  readonly cloudNodeLifecycle: boolean;
  /** The external-attacher and its CSI plugin are down for this long from the death. */
  readonly csiDownSeconds?: number;
  /** The EventBridge event reaches the function this long after the death. */
  readonly eventDelaySeconds?: number;
  /** Kubernetes alone behaves as in that scenario: the difference is only in the event or
   * in something back long before Kubernetes' own 6 minutes end. */
  readonly aloneAsIn?: string;
  /**
   * The goal, in seconds from the event (for a hung node, from the hang: no event says it):
   * median and max of the runs with the remediator.
   */
  readonly goal: { readonly medianSeconds: number; readonly maxSeconds: number };
}

/** The deployed fence function's defaults: its fence time and its schedule. */
const fenceAfterSeconds = settingDefaults.fenceAfterSeconds;
const fenceScheduleSeconds = 60;

/**
 * A hung node's goal, from the hang: the fence time, one schedule period at most before a check
 * sees it, EC2's stop, and the 10 s the issue allows for the recovery after it.
 */
function hungGoalSeconds(): number {
  return fenceAfterSeconds + fenceScheduleSeconds + ec2Timings.stoppingMs / 1000 + 10;
}

export const recoveryScenarios: readonly RecoveryScenario[] = [
  {
    id: 'terminated',
    title: 'terminated, Node deleted by the cloud node lifecycle',
    death: 'terminated',
    cloudNodeLifecycle: true,
    goal: { medianSeconds: 5, maxSeconds: 10 },
  },
  {
    id: 'terminated-node-stays',
    title: 'terminated, no cloud node lifecycle (Node stays)',
    death: 'terminated',
    cloudNodeLifecycle: false,
    goal: { medianSeconds: 5, maxSeconds: 10 },
  },
  {
    id: 'stopped',
    title: 'stopped',
    death: 'stopped',
    cloudNodeLifecycle: true,
    goal: { medianSeconds: 5, maxSeconds: 10 },
  },
  {
    id: 'late-event',
    title: 'terminated, event 2 minutes late',
    death: 'terminated',
    cloudNodeLifecycle: true,
    eventDelaySeconds: 120,
    aloneAsIn: 'terminated',
    goal: { medianSeconds: 70, maxSeconds: 70 },
  },
  {
    id: 'csi-down',
    title: 'terminated, CSI controller down for 2 minutes',
    death: 'terminated',
    cloudNodeLifecycle: true,
    csiDownSeconds: 120,
    aloneAsIn: 'terminated',
    goal: { medianSeconds: 20, maxSeconds: 20 },
  },
  {
    // The EBS CSI controller runs two replicas; losing the one on the dead node, or its pod
    // being rescheduled after the eviction, is an outage of seconds, not minutes.
    id: 'csi-down-briefly',
    title: 'terminated, CSI controller down for 15 seconds',
    death: 'terminated',
    cloudNodeLifecycle: true,
    csiDownSeconds: 15,
    aloneAsIn: 'terminated',
    goal: { medianSeconds: 20, maxSeconds: 20 },
  },
  {
    // No EC2 event: the fence function's schedule finds the Node NotReady with a stale Lease,
    // fences it after FENCE_AFTER_SECONDS (its default), and recovers it as a stopped node.
    id: 'hung',
    title: 'hung (kubelet dead, EC2 says running), fencing on',
    death: 'hung',
    cloudNodeLifecycle: true,
    goal: { medianSeconds: hungGoalSeconds(), maxSeconds: hungGoalSeconds() },
  },
];

/** Kubernetes alone is given up on after 9 minutes, and reported as "> 540 s". */
const capSeconds = 540;
/** A hung node is watched longer: Kubernetes' own eviction comes at 300 s, and then nothing. */
const hungCapSeconds = 900;
/** After the recovery, one resync period of the attach/detach controller and some margin, to
 * see whether a controller undoes it. */
const settleSeconds = 65;

export interface RecoveryRun extends RecoveryTimeline {
  /** How the remediator's invocations ended (one per delivered event), when it ran. */
  readonly remediator?: string;
  /** Seconds from the death until EC2 reached the final state (terminated, stopped). */
  readonly ec2Seconds?: number;
  /** Seconds from the death until that state's event was first delivered. */
  readonly eventSeconds?: number;
}

export interface ScenarioResult {
  readonly scenario: RecoveryScenario;
  readonly alone?: RecoveryRun;
  readonly withRemediator: readonly RecoveryRun[];
}

/** A cluster whose replica is about to lose its node. */
async function prepare(
  controlPlane: RunningControlPlane,
  awsEndpoint: string,
  scenario: RecoveryScenario,
) {
  const cluster = await StatefulCluster.start(
    `ttr-${scenario.id}`,
    { awsEndpoint, adminKubeconfig: controlPlane.kubeconfigs.admin },
    { replicas: 2, cloudNodeLifecycle: scenario.cloudNodeLifecycle },
  );
  const [replica] = cluster.replicas;
  if (!replica) throw new Error('the cluster has no replica');
  return beforeDeath(cluster, replica);
}

async function killAndWatch(
  controlPlane: RunningControlPlane,
  awsEndpoint: string,
  scenario: RecoveryScenario,
  before: Awaited<ReturnType<typeof prepare>>,
  withRemediator: boolean,
): Promise<RecoveryRun> {
  const { cluster, deadNode } = before;
  try {
    // The death: EC2 is asked to stop or terminate the instance, which takes it through
    // stopping or shutting-down (its kubelet stops at once) before the final state.
    const diedAt = Date.now();
    const { death } = scenario;
    if (death === 'hung') {
      return await hangAndWatch(controlPlane, awsEndpoint, before, withRemediator, diedAt);
    }
    const dying =
      death === 'terminated' ? cluster.terminateInstance(deadNode) : cluster.stopInstance(deadNode);
    const remediation = withRemediator
      ? (async () => {
          if (scenario.eventDelaySeconds) {
            await dying;
            await sleep(scenario.eventDelaySeconds * 1000);
          }
          return deliverDeathEvents({
            ec2Endpoint: awsEndpoint,
            instanceId: deadNode.instanceId,
            since: diedAt,
            final: death,
            delivery: scenario.eventDelaySeconds
              ? { order: 'final-only', duplicateFinal: false }
              : atLeastOnce,
            invoke: (event) =>
              invokeBundleAsync('node-loss', event, {
                ...awsEnvironmentFor(awsEndpoint),
                CLUSTER_NAME: cluster.name,
                KUBECONFIG: controlPlane.kubeconfigs.remediator,
                POWERTOOLS_METRICS_DISABLED: 'true',
              }),
            timeoutMs: (scenario.eventDelaySeconds ?? 0) * 1000 + 120_000,
          });
        })()
      : undefined;
    const timeline = await watchRecovery({ ...before, diedAt }, controlPlane.ec2Log, {
      timeoutMs: capSeconds * 1000,
      settleMs: withRemediator ? settleSeconds * 1000 : 0,
    });
    await dying;
    const deliveries = remediation ? await remediation : undefined;
    const since = (at: number) => Number(((at - diedAt) / 1000).toFixed(1));
    const final = deliveries?.find((d) => d.state === death);
    const ec2Final = await finalStateAt(awsEndpoint, deadNode.instanceId, death, diedAt);
    return {
      ...timeline,
      ...(deliveries ? { remediator: deliveries.map(describeInvocation).join(' / ') } : {}),
      ...(ec2Final !== undefined ? { ec2Seconds: since(ec2Final) } : {}),
      ...(final ? { eventSeconds: since(final.deliveredAt) } : {}),
    };
  } finally {
    await cluster.dispose().catch(() => undefined);
  }
}

/**
 * A hung kubelet: no EC2 event comes. With the remediator, the built fence bundle runs on its
 * deployed schedule (every minute) with its default fence time, until it has fenced.
 */
async function hangAndWatch(
  controlPlane: RunningControlPlane,
  awsEndpoint: string,
  before: Awaited<ReturnType<typeof prepare>>,
  withRemediator: boolean,
  hungAt: number,
): Promise<RecoveryRun> {
  const { cluster, deadNode } = before;
  await cluster.hangKubelet(deadNode);
  let fenced = false;
  const checks: string[] = [];
  const schedule = withRemediator
    ? (async () => {
        while (!fenced && Date.now() - hungAt < hungCapSeconds * 1000) {
          const tick = { ...eventSample('scheduled-event.json'), time: new Date().toISOString() };
          const invocation = await invokeBundleAsync('fence', tick, {
            ...awsEnvironmentFor(awsEndpoint),
            CLUSTER_NAME: cluster.name,
            KUBECONFIG: controlPlane.kubeconfigs.remediator,
            NODE_SELECTOR: cluster.labelSelector,
            FENCE_HUNG_NODES: 'true',
            // Other runs' dead Nodes share this apiserver: the recovery's breaker is lifted.
            MAX_DEAD_NODE_PERCENT: '100',
            POWERTOOLS_METRICS_DISABLED: 'true',
            TEST_LAMBDA_TIMEOUT_MS: '600000',
          });
          const reports = fenceReportsOf(invocation);
          if (reports.length > 0) checks.push(reports.join(', '));
          fenced = reports.some((r) => r.startsWith('fenced'));
          if (!fenced) await sleep(fenceScheduleSeconds * 1000);
        }
      })()
    : undefined;
  const timeline = await watchRecovery({ ...before, diedAt: hungAt }, controlPlane.ec2Log, {
    timeoutMs: (withRemediator ? capSeconds : hungCapSeconds) * 1000,
    settleMs: withRemediator ? settleSeconds * 1000 : 0,
  });
  fenced = true;
  await schedule;
  return {
    ...timeline,
    ...(withRemediator ? { remediator: checks.join(' / ') || 'never fenced' } : {}),
    eventSeconds: 0,
  };
}

/** "fenced (recovery remediated)" for each hung node a fence check reported on. */
function fenceReportsOf(invocation: BundleInvocation): string[] {
  if (invocation.error) return [`threw ${invocation.error.name}: ${invocation.error.message}`];
  const { check } = (invocation.result ?? {}) as {
    check?: {
      reports?: Array<{ outcome?: string; reason?: string; recovery?: { outcome?: string } }>;
    };
  };
  return (check?.reports ?? []).map((r) =>
    r.recovery ? `${r.outcome} (recovery ${r.recovery.outcome})` : `${r.outcome} (${r.reason})`,
  );
}

/** "terminated: remediated", from one delivered event and what its invocation returned. */
function describeInvocation(delivered: Delivered<BundleInvocation>): string {
  const invocation = delivered.result;
  if (invocation.error) {
    return `${delivered.state}: threw ${invocation.error.name}: ${invocation.error.message}`;
  }
  const { status, instances } = (invocation.result ?? {}) as {
    status?: string;
    instances?: Array<{ outcome?: string; reason?: string }>;
  };
  const outcomes =
    instances?.map((r) => (r.reason ? `${r.outcome} (${r.reason})` : r.outcome)).join(', ') ??
    status ??
    'no report';
  return `${delivered.state}: ${outcomes}`;
}

/** "stopping and shutting-down 8 s, ...": the EC2 layer's timings, for the world line. */
function describeTimings(t: Ec2Timings): string {
  const s = (ms: number) => `${ms / 1000} s`;
  return (
    `stopping ${s(t.stoppingMs)}, shutting-down ${s(t.shuttingDownMs)}, pending ${s(t.pendingMs)}, ` +
    `DescribeInstances ${s(t.describeLagMs)} behind, attaching ${s(t.attachingMs)}, detaching ${s(t.detachingMs)}; ` +
    'a terminated instance has no private DNS name'
  );
}

/** When EC2 reached `state` for the instance, as the EC2 layer recorded it. */
async function finalStateAt(
  ec2Endpoint: string,
  instanceId: string,
  state: string,
  since: number,
): Promise<number | undefined> {
  const transitions = (await (
    await fetch(`${ec2Endpoint}${transitionsPath}`)
  ).json()) as Ec2Transition[];
  return transitions.find((t) => t.instanceId === instanceId && t.state === state && t.at >= since)
    ?.at;
}

/** Time between two deaths of one benchmark phase. */
const deathSpacingMs = 20_000;
/** How long before its death a run's cluster is built (a StatefulCluster starts in 10-20 s). */
const buildLeadMs = 30_000;

/**
 * Runs every scenario `runs` times with the remediator and, unless `skipAlone`, once with
 * Kubernetes alone. Scenarios that share the control plane run in one phase, a death every
 * 20 s; the CSI-controller-down runs, which stop the one external-attacher, run after them, one
 * at a time.
 */
export async function measureTimeToRecover(
  controlPlane: RunningControlPlane,
  awsEndpoint: string,
  options: { readonly runs: number; readonly skipAlone: boolean },
  say: (line: string) => void,
): Promise<ScenarioResult[]> {
  const runAll = async (
    scenarios: readonly RecoveryScenario[],
    runsEach: number,
    csiDownSeconds?: number,
  ): Promise<ScenarioResult[]> => {
    // Deaths come one at a time, 20 s apart: each run recovers in seconds and is then only
    // watched for a sync period while later ones die, so each measures one node's death on a
    // quiet control plane, as the goal is stated (many deaths at once are the zone-outage storm,
    // measured on their own). Over a scenario's runs the deaths fall at different phases of the
    // controllers' 1-minute periods. A run's cluster is built just before its death, so only a
    // few exist at once.
    const order = [
      ...(options.skipAlone
        ? []
        : scenarios
            .filter((scenario) => !scenario.aloneAsIn)
            .map((scenario) => ({ scenario, withRemediator: false }))),
      ...Array.from({ length: runsEach }, () =>
        scenarios.map((scenario) => ({ scenario, withRemediator: true })),
      ).flat(),
    ];
    const phaseStart = Date.now() + buildLeadMs;
    const planned = order.map((p, i) => ({ ...p, dieAt: phaseStart + i * deathSpacingMs }));
    const runs = await Promise.all(
      planned.map(async (p) => {
        await sleep(Math.max(0, p.dieAt - buildLeadMs - Date.now()));
        const before = await prepare(controlPlane, awsEndpoint, p.scenario);
        await sleep(Math.max(0, p.dieAt - Date.now()));
        // The controller is lost with the node, as when it ran there.
        const outage = csiDownSeconds
          ? (async () => {
              await controlPlane.stopCsiController();
              await sleep(csiDownSeconds * 1000);
              await controlPlane.startCsiController();
            })()
          : undefined;
        const run = await killAndWatch(
          controlPlane,
          awsEndpoint,
          p.scenario,
          before,
          p.withRemediator,
        );
        await outage;
        return run;
      }),
    );
    return scenarios.map((scenario) => {
      const alone = runs.find(
        (_, i) => planned[i]?.scenario === scenario && !planned[i]?.withRemediator,
      );
      return {
        scenario,
        ...(alone ? { alone } : {}),
        withRemediator: runs.filter(
          (_, i) => planned[i]?.scenario === scenario && planned[i]?.withRemediator,
        ),
      };
    });
  };

  const shared = recoveryScenarios.filter((s) => s.csiDownSeconds === undefined);
  say(
    `time to recover: ${shared.map((s) => s.id).join(', ')}, one death every ${deathSpacingMs / 1000} s (up to ${Math.round((buildLeadMs + deathSpacingMs * (shared.length * (options.runs + 1))) / 1000) + capSeconds + settleSeconds} s)...`,
  );
  const results = await runAll(shared, options.runs);
  for (const scenario of recoveryScenarios.filter((s) => s.csiDownSeconds !== undefined)) {
    const withRemediator: RecoveryRun[] = [];
    for (let run = 1; run <= options.runs; run++) {
      say(
        `time to recover: ${scenario.id}, run ${run} of ${options.runs} (the CSI controller stopped for ${scenario.csiDownSeconds} s)...`,
      );
      const [result] = await runAll([scenario], 1, scenario.csiDownSeconds);
      withRemediator.push(...(result?.withRemediator ?? []));
    }
    results.push({ scenario, withRemediator });
  }
  return results;
}

const seconds = (value: number | undefined, cap = capSeconds) =>
  value === undefined || !Number.isFinite(value) ? `> ${cap} s` : `${value} s`;

/** How long Kubernetes alone was watched in this scenario. */
const capOf = (scenario: RecoveryScenario) =>
  scenario.death === 'hung' ? hungCapSeconds : capSeconds;

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** Median and max over the runs; a run that never recovered counts as beyond the cap. */
function medianAndMax(
  runs: readonly RecoveryRun[],
  pick: (r: RecoveryRun) => number | undefined,
): string {
  const values = runs.map((r) => pick(r) ?? Number.POSITIVE_INFINITY);
  const med = median(values);
  const max = Math.max(...values);
  const show = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? undefined : v);
  return `${seconds(show(med))} (max ${seconds(show(max))})`;
}

// biome-ignore lint/complexity/noExcessiveCognitiveComplexity: one table's rows and its notes, one branch per kind of scenario; kept whole so the table reads as it is written
export function timeToRecoverMarkdown(
  results: readonly ScenarioResult[],
  skipAlone: boolean,
): string[] {
  const byId = new Map(results.map((r) => [r.scenario.id, r]));
  const aloneOf = (r: ScenarioResult) => r.alone ?? byId.get(r.scenario.aloneAsIn ?? '')?.alone;
  const runs = results[0]?.withRemediator.length ?? 0;
  const lines = [
    '## Time to recover (the headline)',
    '',
    "Seconds from the instance's death (EC2 asked to terminate or stop it; its kubelet stops at once) until the StatefulSet's replacement pod is Running on another node with its EBS volume attached. " +
      `The world: real kube-apiserver, kube-controller-manager and kube-scheduler (Kubernetes 1.35, every timer at its default), the real CSI external-attacher in front of the real EBS CSI driver ${ebsCsiDriverVersion} (controller, with batching), the real AWS cloud-controller-manager ${awsCloudControllerVersion} (cloud node lifecycle) in the clusters that have one; clusters that run what every cluster runs (a node-agent DaemonSet tolerating every taint, a static pod on the node that dies, a PodDisruptionBudget). ` +
      `Simulated: the kubelets; EC2 is moto behind a layer that gives it EC2's timing (${describeTimings(ec2Timings)}); EventBridge delivers every state's event at least once (the final state's twice). ` +
      '"With the remediator": the built `node-loss` bundle, a fresh process per event, invoked with each event as it is delivered; median and max of ' +
      `${runs} runs. Kubernetes alone is given up on after ${capSeconds} s (a hung node after ${hungCapSeconds} s). ` +
      `A hung node's kubelet stops while EC2 keeps the instance running (no event): with the remediator, the built \`fence\` bundle runs on its deployed schedule (every ${fenceScheduleSeconds} s) with its default FENCE_AFTER_SECONDS (${fenceAfterSeconds}), times counted from the hang. Deaths come one every ${deathSpacingMs / 1000} s, so each run measures one node's death on an otherwise quiet control plane.`,
    '',
    '| scenario | Kubernetes alone | with the remediator | old pod gone | replacement scheduled | volume attached | VolumeAttachments re-created for the dead node | re-attachments to the dead instance |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const result of results) {
    const alone = aloneOf(result);
    const aloneCell = skipAlone
      ? 'not measured (--quick)'
      : result.scenario.aloneAsIn && alone
        ? `${seconds(alone.replacementRunning)} (as "${byId.get(result.scenario.aloneAsIn)?.scenario.title}")`
        : seconds(alone?.replacementRunning, capOf(result.scenario));
    const runsOf = result.withRemediator;
    const total = (pick: (r: RecoveryRun) => number) => runsOf.reduce((sum, r) => sum + pick(r), 0);
    lines.push(
      `| ${result.scenario.title} | ${aloneCell} | ${medianAndMax(runsOf, (r) => r.replacementRunning)} | ${seconds(median(runsOf.map((r) => r.oldPodGone ?? Number.POSITIVE_INFINITY)))} | ${seconds(median(runsOf.map((r) => r.replacementScheduled ?? Number.POSITIVE_INFINITY)))} | ${seconds(median(runsOf.map((r) => r.volumeAttached ?? Number.POSITIVE_INFINITY)))} | ${total((r) => r.volumeAttachmentsRecreated)} in ${runsOf.length} runs | ${total((r) => r.reattachmentsToDeadInstance)} in ${runsOf.length} runs |`,
    );
  }
  lines.push(
    '',
    'The step columns are medians over the runs with the remediator. Kubernetes alone, step by step:',
    '',
    '| scenario | old pod gone | replacement scheduled | volume attached | Running |',
    '|---|---|---|---|---|',
  );
  for (const result of results) {
    if (!result.alone) continue;
    const a = result.alone;
    const cap = capOf(result.scenario);
    lines.push(
      `| ${result.scenario.title} | ${seconds(a.oldPodGone, cap)} | ${seconds(a.replacementScheduled, cap)} | ${seconds(a.volumeAttached, cap)} | ${seconds(a.replacementRunning, cap)} |`,
    );
  }
  lines.push(
    '',
    'Goals (seconds from the first delivery of the event that announces the final state, as EC2 reached it or 120 s later in the late-event scenario; and no fight):',
    '',
    '| scenario | goal: median, max | measured from the event: median, max | no VolumeAttachment re-created, no re-attachment | met |',
    '|---|---|---|---|---|',
  );
  for (const result of results) {
    // Goals belong to the code: results written before a goal was set still get it.
    const goal = recoveryScenarios.find((s) => s.id === result.scenario.id)?.goal;
    if (!goal) continue;
    const { eventDelaySeconds = 0 } = result.scenario;
    // Runs measured before events were timed went out right after the death or the delay.
    const fromEvent = result.withRemediator.map((r) =>
      r.replacementRunning === undefined
        ? Number.POSITIVE_INFINITY
        : Number((r.replacementRunning - (r.eventSeconds ?? eventDelaySeconds)).toFixed(1)),
    );
    const med = median(fromEvent) ?? Number.POSITIVE_INFINITY;
    const max = Math.max(...fromEvent);
    const noFight = result.withRemediator.every(
      (r) => r.volumeAttachmentsRecreated === 0 && r.reattachmentsToDeadInstance === 0,
    );
    const misses = [
      ...(med > goal.medianSeconds
        ? [`median ${seconds(Number((med - goal.medianSeconds).toFixed(1)))} over`]
        : []),
      ...(max > goal.maxSeconds
        ? [`max ${seconds(Number((max - goal.maxSeconds).toFixed(1)))} over`]
        : []),
      ...(noFight ? [] : ['a fight']),
    ];
    lines.push(
      `| ${result.scenario.title} | ${goal.medianSeconds} s, ${goal.maxSeconds} s | ${seconds(med)}, ${seconds(max)} | ${noFight ? 'yes' : 'no'} | ${misses.length === 0 ? 'yes' : `no: ${misses.join(', ')}`} |`,
    );
  }
  lines.push(
    '',
    `Where the seconds go: EC2 takes ${ec2Timings.shuttingDownMs / 1000} s to terminate an instance here (${ec2Timings.stoppingMs / 1000} s to stop one), and the remediator acts once it has; each event starts the built bundle in a fresh Node.js process (a cold start every time, about 1 s on these 2 cores); the old pod is gone about 1 s after the taint and its replacement is scheduled at once (the step columns); the EBS CSI driver then detaches (EC2 ${ec2Timings.detachingMs / 1000} s) and attaches (${ec2Timings.attachingMs / 1000} s), polling EC2 from 1 s with a backoff. With the CSI controller down, nothing can attach the volume to the new node until it is back, whatever frees the old one: recovery follows its return by a second or two, so a 2-minute outage cannot meet a 20-second goal; the 15-second outage (a second replica taking over, or its pod rescheduled) shows what it costs then.`,
    '',
    'How each remediator invocation ended:',
    '',
    ...results.map(
      (r) =>
        `- ${r.scenario.title}: ${r.withRemediator.map((run) => run.remediator ?? 'not invoked').join('; ')}`,
    ),
    '',
  );
  return lines;
}
