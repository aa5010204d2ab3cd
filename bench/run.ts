// Benchmarks on the local emulators (`npm run bench`, `npm run bench -- --quick`): time to
// recover (bench/time-to-recover.ts, the headline), time to remediate one node by volume count, API calls and sequential round trips per remediation,
// sweeps of large clusters, the zone-outage storm (bench/zone-outage.ts), and the cold start of each bundle. Writes bench/results.json and
// BENCHMARKS.md from the numbers of this run; nothing is typed in.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../functions/shared/config.ts';
import {
  csiNodeIdAnnotation,
  ebsCsiAttacher,
} from '../functions/shared/contract/kubernetes-identity.ts';
import { parseNodeLossInput, parseSweepInput } from '../functions/shared/events/registry.ts';
import { handleInput } from '../functions/shared/handle-input.ts';
import { providerIdFor } from '../functions/shared/identity/aws-ids.ts';
import {
  ebsCsiAttacherFinalizer,
  volumeAttachmentName,
} from '../functions/shared/identity/volume-attachment-name.ts';
import { coldStartBytes } from '../scripts/cold-start-files.ts';
import { invokeBundle, resultOf } from '../test/support/bundle-process.ts';
import { awsClientConfigFor, awsEnvironmentFor, testRegion } from '../test/support/endpoints.ts';
import { type FaultRule, kubeconfigThrough, startFaultProxy } from '../test/support/fault-proxy.ts';
import { TestCluster, type TestNode, testClusterLabel } from '../test/support/fixtures.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../test/support/local-environment.ts';
import { repoRoot } from '../test/support/paths.ts';
import { run } from '../test/support/processes.ts';
import { ec2StateChangeEvent } from '../test/support/samples.ts';
import { wireHandler } from '../test/support/wire.ts';
import { ApiCallRecorder } from './api-calls.ts';
import {
  measureTimeToRecover,
  type ScenarioResult,
  timeToRecoverMarkdown,
} from './time-to-recover.ts';
import { measureZoneOutage, type ZoneOutageResult, zoneOutageMarkdown } from './zone-outage.ts';

const quick = process.argv.includes('--quick');
// `--only recovery` (or `emulator`, or `storm`) measures one part and keeps the other's numbers from
// the previous bench/results.json, each with the date it was measured.
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined;
if (
  only !== undefined &&
  only !== 'recovery' &&
  only !== 'emulator' &&
  only !== 'storm' &&
  only !== 'sweep'
) {
  throw new Error(
    `--only takes "recovery", "emulator", "sweep" or "storm", not ${JSON.stringify(only)}`,
  );
}
const recoveryRuns = 3;
const repetitions = quick ? 3 : 7;
const volumeCounts = [1, 8, 26];
/** What each call to EC2 and the apiserver takes in a Region, roughly; loopback has none. */
const apiLatencyMs = 20;
const sweepSizes = quick ? [200, 1000] : [1000, 5000];
const coldStartRuns = quick ? 5 : 10;
/**
 * The V8 heap of the sweep's second dry run: what fits a 256 MB function (200 MiB of old space,
 * and young semi-spaces of 8 MiB: on a large machine V8 lets them grow to 64 MiB each).
 */
const cappedHeapMiB = 200;
const cappedSemiSpaceMiB = 8;

// The benchmark reports its own numbers; EMF lines would only clutter them.
process.env.POWERTOOLS_METRICS_DISABLED = 'true';

const say = (line: string) => process.stderr.write(`${line}\n`);

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}
const median = (values: readonly number[]) => percentile(values, 50);
const round = (value: number, digits = 1) => Number(value.toFixed(digits));

function remediatorSettings(
  cluster: TestCluster,
  env: LocalEnvironment,
  extra: Record<string, string> = {},
) {
  return loadConfig({
    CLUSTER_NAME: cluster.name,
    KUBECONFIG: env.kubeconfigs.remediator,
    // No external-attacher runs here: its finalizer is removed after this grace, which the
    // benchmark keeps short so it measures the remediator, not the wait.
    ATTACHER_GRACE_SECONDS: '0.05',
    // No controllers run on the bare apiserver: the remediator frees the volumes itself.
    CONTROLLER_GRACE_SECONDS: '0.05',
    MAX_ACTIONS_PER_INVOCATION: '200',
    // Each benchmark cluster is one node, and it dies: the share-of-dead-Nodes rule would refuse.
    MAX_DEAD_NODE_PERCENT: '100',
    ...extra,
  });
}

async function emulatorRoundTrips(env: LocalEnvironment) {
  const ec2 = new EC2Client(awsClientConfigFor(env.awsEndpoint));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(env.kubeconfigs.remediator);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const timed = async (call: () => Promise<unknown>) => {
    const times: number[] = [];
    await call(); // warm the connection
    for (let i = 0; i < 30; i++) {
      const start = performance.now();
      await call();
      times.push(performance.now() - start);
    }
    return round(median(times), 2);
  };
  return {
    motoDescribeInstancesMs: await timed(() =>
      ec2.send(
        new DescribeInstancesCommand({
          Filters: [{ Name: 'instance-id', Values: ['i-00000000000000000'] }],
        }),
      ),
    ),
    kubeApiServerListNodesMs: await timed(() => core.listNode({ limit: 1 })),
  };
}

/**
 * Remediates a stopped node with `volumes` volumes, `repetitions` times. With `latencyMs`, every
 * call to moto and the apiserver goes through a proxy that holds it that long first: a Region's
 * API latency, which the emulators on loopback lack (their time goes to their own work instead).
 */
async function remediationOfOneNode(env: LocalEnvironment, volumes: number, latencyMs = 0) {
  const proxies =
    latencyMs > 0
      ? {
          aws: await startFaultProxy(env.awsEndpoint),
          kube: await startFaultProxy(env.kubeServer, env.kubeconfigs.remediator),
        }
      : undefined;
  const delay: FaultRule = {
    fault: { kind: 'delay', ms: latencyMs },
    times: Number.MAX_SAFE_INTEGER,
  };
  proxies?.aws.setRules([delay]);
  proxies?.kube.setRules([delay]);
  const awsEndpoint = proxies?.aws.endpoint ?? env.awsEndpoint;
  const kubeconfig = proxies ? kubeconfigThrough(proxies.kube) : env.kubeconfigs.remediator;
  const durations: number[] = [];
  let calls: Record<string, number> = {};
  let roundTrips = 0;
  let toFirstChange = { fromEvent: 0, fromClusterAccess: 0 };
  for (let rep = 0; rep < repetitions; rep++) {
    const cluster = TestCluster.create('bench-node', env);
    const node = await cluster.addNode();
    const created = [];
    for (let v = 0; v < volumes; v++) created.push(await cluster.addVolume(node));
    await cluster.stopInstance(node);

    const recorder = new ApiCallRecorder(proxies?.kube.endpoint ?? env.kubeServer);
    const ec2 = new EC2Client(awsClientConfigFor(awsEndpoint));
    recorder.instrument(ec2, 'ec2');
    const { deps } = wireHandler(
      remediatorSettings(cluster, env, { KUBECONFIG: kubeconfig }),
      awsEndpoint,
      ec2,
    );
    const event = ec2StateChangeEvent(node.instanceId, 'stopped');
    const start = performance.now();
    const result = await handleInput(event, parseNodeLossInput, deps);
    durations.push(performance.now() - start);
    calls = recorder.byOperation();
    roundTrips = recorder.sequentialRoundTrips();
    toFirstChange = recorder.roundTripsToFirstChange();

    const left = await cluster.volumeAttachmentNames();
    const states = await Promise.all(created.map((v) => cluster.volume(v.volumeId)));
    if (
      result.status !== 'done' ||
      left.length > 0 ||
      states.some((s) => s.state !== 'available')
    ) {
      throw new Error(
        `remediation of ${volumes} volumes did not free them: ${JSON.stringify(result)}`,
      );
    }
    await cluster.dispose();
  }
  await Promise.all([proxies?.aws.stop(), proxies?.kube.stop()]);
  return {
    volumes,
    latencyMs,
    runs: repetitions,
    medianMs: round(median(durations)),
    p95Ms: round(percentile(durations, 95)),
    apiCalls: calls,
    totalApiCalls: Object.values(calls).reduce((a, b) => a + b, 0),
    sequentialRoundTrips: roundTrips,
    roundTripsToFirstChange: toFirstChange,
  };
}

async function inBatches<T>(
  items: readonly T[],
  size: number,
  work: (item: T) => Promise<unknown>,
) {
  for (let i = 0; i < items.length; i += size)
    await Promise.all(items.slice(i, i + size).map(work));
}

/** A cluster of `nodes` nodes with four VolumeAttachments each, 2% of them dead. */
async function buildLargeCluster(env: LocalEnvironment, nodes: number) {
  const cluster = TestCluster.create('bench-sweep', env);
  const ec2 = cluster.ec2;
  const dead = Math.round(nodes * 0.02);
  const healthy = nodes - dead;
  const instances: Array<{ instanceId: string; nodeName: string }> = [];
  for (let launched = 0; launched < healthy; launched += 500) {
    const count = Math.min(500, healthy - launched);
    const answer = await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-0123456789abcdef0',
        InstanceType: 'm7g.large',
        MinCount: count,
        MaxCount: count,
        Placement: { AvailabilityZone: `${testRegion}a` },
        TagSpecifications: [
          { ResourceType: 'instance', Tags: [{ Key: cluster.clusterTagKey, Value: 'owned' }] },
        ],
      }),
    );
    // Named after the instance id: among thousands of instances moto's random private IPs
    // repeat, and Node names must not.
    for (const i of answer.Instances ?? []) {
      if (i.InstanceId)
        instances.push({ instanceId: i.InstanceId, nodeName: `node-${i.InstanceId}` });
    }
  }
  // Healthy nodes: Nodes (Ready, as their kubelets report) and VolumeAttachments only. A sweep
  // reads no more of a running node.
  await inBatches(instances, 32, async ({ instanceId, nodeName }) => {
    await cluster.core.createNode({
      body: {
        metadata: { name: nodeName, labels: { [testClusterLabel]: cluster.name } },
        spec: { providerID: providerIdFor(`${testRegion}a`, instanceId) },
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'KubeletReady',
              lastHeartbeatTime: new Date(),
              lastTransitionTime: new Date(),
            },
          ],
        },
      },
    });
    for (let v = 0; v < 4; v++) {
      const pvName = `pvc-${crypto.randomUUID()}`;
      await cluster.storage.createVolumeAttachment({
        body: {
          metadata: {
            name: volumeAttachmentName(pvName, ebsCsiAttacher, nodeName),
            labels: { [testClusterLabel]: cluster.name },
            annotations: { [csiNodeIdAnnotation]: instanceId },
            finalizers: [ebsCsiAttacherFinalizer],
          },
          spec: { attacher: ebsCsiAttacher, nodeName, source: { persistentVolumeName: pvName } },
        },
      });
    }
  });
  // Dead nodes: the real thing, half stopped (volumes still attached), half terminated; NotReady,
  // as the node lifecycle controller marks them within 40 s.
  const deadNodes: TestNode[] = [];
  for (let d = 0; d < dead; d++) {
    const node = await cluster.addNode();
    for (let v = 0; v < 4; v++) await cluster.addVolume(node);
    await cluster.setNodeReady(node, false);
    deadNodes.push(node);
  }
  await inBatches(deadNodes, 16, (node) =>
    deadNodes.indexOf(node) % 2 === 0
      ? cluster.stopInstance(node)
      : cluster.terminateInstance(node),
  );
  return { cluster, dead };
}

async function sweepOfLargeCluster(env: LocalEnvironment, nodes: number) {
  const buildStart = performance.now();
  const { cluster, dead } = await buildLargeCluster(env, nodes);
  const buildMs = performance.now() - buildStart;
  const settings = {
    CLUSTER_NAME: cluster.name,
    KUBECONFIG: env.kubeconfigs.remediator,
    NODE_SELECTOR: cluster.labelSelector,
    ATTACHER_GRACE_SECONDS: '0.05',
    CONTROLLER_GRACE_SECONDS: '0.05',
    MAX_ACTIONS_PER_INVOCATION: '5000',
  };
  // A dry run of the built bundle in its own process: its peak memory is the function's.
  const dryRunOfBundle = (extra: Record<string, string> = {}) =>
    invokeBundle(
      'sweep',
      { action: 'sweep', dryRun: true },
      {
        ...awsEnvironmentFor(env.awsEndpoint),
        ...settings,
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_LOG_LEVEL: 'WARN',
        ...extra,
      },
    );
  const dryStart = performance.now();
  const bundleRun = dryRunOfBundle();
  const dryRunMs = performance.now() - dryStart;
  resultOf('sweep', bundleRun);
  // The same with V8's heap capped as a 256 MB function's would have to be: whether the sweep
  // needs that memory or only takes it while the machine has plenty.
  const cappedRun = dryRunOfBundle({
    NODE_OPTIONS: `--max-old-space-size=${cappedHeapMiB} --max-semi-space-size=${cappedSemiSpaceMiB}`,
  });
  resultOf('sweep with a capped heap', cappedRun);

  const recorder = new ApiCallRecorder(env.kubeServer);
  const ec2 = new EC2Client(awsClientConfigFor(env.awsEndpoint));
  recorder.instrument(ec2, 'ec2');
  const { deps } = wireHandler(loadConfig(settings), env.awsEndpoint, ec2);
  const start = performance.now();
  const result = await handleInput({ action: 'sweep' }, parseSweepInput, deps);
  const wallMs = performance.now() - start;
  const calls = recorder.byOperation();
  if (result.status !== 'swept' || result.sweep.staleInstances !== dead || !result.sweep.complete) {
    throw new Error(
      `sweep of ${nodes} nodes did not find its ${dead} dead nodes: ${JSON.stringify(result).slice(0, 500)}`,
    );
  }
  await cluster.storage
    .deleteCollectionVolumeAttachment({ labelSelector: cluster.labelSelector })
    .catch(() => undefined);
  return {
    nodes,
    attachments: nodes * 4,
    deadNodes: dead,
    wallMs: round(wallMs),
    dryRunBundleMs: round(dryRunMs),
    dryRunBundlePeakRssMiB: round((bundleRun.maxRssKiB ?? Number.NaN) / 1024),
    cappedHeapMiB,
    cappedHeapPeakRssMiB: round((cappedRun.maxRssKiB ?? Number.NaN) / 1024),
    instancesAskedOfEc2: result.sweep.instancesExamined,
    ec2BusyMs: round(recorder.busyMs('ec2')),
    ec2BusyMsByOperation: recorder.busyMsByOperation('ec2'),
    apiCalls: calls,
    ec2Calls: Object.entries(calls)
      .filter(([k]) => k.startsWith('ec2 '))
      .reduce((a, [, n]) => a + n, 0),
    kubernetesCalls: Object.entries(calls)
      .filter(([k]) => k.startsWith('kubernetes '))
      .reduce((a, [, n]) => a + n, 0),
    setupMs: round(buildMs),
  };
}

function deployedBytes(folder: string): number {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.mjs'))
    .reduce((sum, file) => sum + statSync(join(folder, file)).size, 0);
}

function coldStart(env: LocalEnvironment, name: string) {
  const bundle = join(repoRoot, 'dist', name, 'index.mjs');
  const settings = {
    ...awsEnvironmentFor(env.awsEndpoint),
    CLUSTER_NAME: 'bench',
    KUBECONFIG: env.kubeconfigs.remediator,
    LIFECYCLE_HOOK_NAMES: 'bench',
  };
  const script = `const t = performance.now(); await import(${JSON.stringify(bundle)}); console.log(performance.now() - t);`;
  const times: number[] = [];
  for (let i = 0; i < coldStartRuns; i++) {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH, ...settings },
      encoding: 'utf8',
    });
    if (child.status !== 0) throw new Error(`importing ${name} failed: ${child.stderr}`);
    times.push(Number(child.stdout.trim()));
  }
  return {
    bundle: name,
    // What a cold start reads and compiles: the entry and the chunks it imports statically.
    sizeKiB: round(coldStartBytes(bundle) / 1024, 0),
    // What is deployed: every chunk, those loaded on first use too (no source maps).
    deployedKiB: round(deployedBytes(join(repoRoot, 'dist', name)) / 1024, 0),
    importMedianMs: round(median(times)),
  };
}

interface Recovery {
  readonly date: string;
  readonly quick: boolean;
  readonly scenarios: ScenarioResult[];
}

interface Results {
  readonly date: string;
  readonly quick: boolean;
  readonly recovery: Recovery;
  readonly machine: { cores: number; cpu: string; memoryGiB: number; node: string };
  readonly emulators: Awaited<ReturnType<typeof emulatorRoundTrips>>;
  readonly remediation: Awaited<ReturnType<typeof remediationOfOneNode>>[];
  readonly ratio26to1: number;
  /** The same through proxies that add a Region's API latency; absent in older results. */
  readonly remediationWithLatency?: Awaited<ReturnType<typeof remediationOfOneNode>>[];
  readonly ratio26to1WithLatency?: number;
  readonly sweeps: Awaited<ReturnType<typeof sweepOfLargeCluster>>[];
  readonly coldStarts: ReturnType<typeof coldStart>[];
  /** The zone-outage storm; absent in results written before it was measured. */
  readonly zoneOutage?: ZoneOutageResult;
  readonly benchmarkSeconds: number;
}

/**
 * How long EC2's mutating-call bucket (50 at once, then 5 a second: remediation.md) lets the
 * sweep's DetachVolume calls take at least, whatever the code does.
 */
function detachFloor(sweep: Results['sweeps'][number] | undefined): string {
  const detaches = sweep?.apiCalls['ec2 DetachVolume'] ?? 0;
  const seconds = Math.max(0, (detaches - 50) / 5);
  return `its ${detaches} DetachVolume calls (the dead nodes' volumes) take at least ${round(seconds)} s at 50 at once and 5 a second after that, the account's mutating-call rate.`;
}

/** ", the largest sweep's busiest calls: DescribeInstances 1.2 s, ..." (when measured). */
function busiestEc2Calls(sweep: Results['sweeps'][number] | undefined): string {
  // Absent in results written before it was measured.
  const byOperation = sweep?.ec2BusyMsByOperation as Record<string, number> | undefined;
  if (!byOperation) return '';
  const busiest = Object.entries(byOperation)
    .slice(0, 4)
    .map(([operation, ms]) => `${operation} ${round(ms / 1000)} s`);
  return `; in the ${sweep?.nodes}-node sweep, by call: ${busiest.join(', ')}`;
}

/**
 * The cost targets (cold start, round trips, volume count, sweep scale): each figure of this
 * run against its target, met or missed by how much, and for a missed one what the measurements
 * say the time or memory goes to.
 */
function targetsMarkdown(results: Results): string[] {
  const largestSweep = results.sweeps.at(-1);
  const oneVolume = results.remediation[0]?.roundTripsToFirstChange;
  interface Target {
    readonly figure: string;
    readonly value: number | undefined;
    readonly unit: string;
    readonly limit: number;
    readonly atMost: boolean;
    /** Where the measurements place the cost, said when the target is missed. */
    readonly why: string;
  }
  const targets: Target[] = [
    {
      figure:
        'bundle size, largest function (what a cold start loads; the whole folder in the cold start section)',
      value: Math.max(...results.coldStarts.map((c) => c.sizeKiB)),
      unit: 'KiB',
      limit: 1000,
      atMost: false,
      why: 'see the cold start section.',
    },
    {
      figure: 'import and client construction, slowest function (median of fresh processes)',
      value: Math.max(...results.coldStarts.map((c) => c.importMedianMs)),
      unit: 'ms',
      limit: 150,
      atMost: false,
      why: "a CPU profile of the import (node --cpu-prof) puts about a third of it in V8 compiling the code a cold start loads, and most of the rest in running its modules' top-level code (the AWS SDK's set-up above all) and in Node.js's own modules (node:http, node:https, node:crypto); reading the configuration and building the clients take about 20 ms.",
    },
    {
      figure: 'sequential round trips from cluster access to the first change (one volume)',
      value: oneVolume?.fromClusterAccess,
      unit: '',
      limit: 2,
      atMost: true,
      why: "the waves are the Node and VolumeAttachment lists (with DescribeVolumes), then the dead Node's pods, its PersistentVolumes and EC2's current reading of the instance together; a third wave means that reading was more than a second old when the taint was due (stateFreshForMs in execute.ts), and EC2 was asked again.",
    },
    {
      figure: '26 volumes vs one, same run',
      value: results.ratio26to1,
      unit: '×',
      limit: 1.5,
      atMost: true,
      why: "moto and the apiserver share the machine's 2 cores with the remediator and do each call's work in turn, so on the emulators the time follows the number of calls; with a Region's latency setting the pace (next row) it follows the waves, which 26 volumes do not add to.",
    },
    {
      figure: `the same with ${apiLatencyMs} ms added to every call (a Region's API latency)`,
      value: results.ratio26to1WithLatency,
      unit: '×',
      limit: 1.5,
      atMost: true,
      why: "the volumes' calls overlap, but the emulators still do their work one call at a time behind the added latency.",
    },
    {
      figure: `sweep of ${largestSweep?.nodes} nodes / ${largestSweep?.attachments} VolumeAttachments, 2 % dead`,
      value: largestSweep === undefined ? undefined : round(largestSweep.wallMs / 1000),
      unit: 's',
      limit: 30,
      atMost: false,
      why: `the sweep waits on moto for ${largestSweep?.ec2BusyMs === undefined ? 'most of it' : `${round(largestSweep.ec2BusyMs / 1000)} s of it`} (EC2 busy, sweep table, with the busiest calls): moto does each call's work in turn, and filters DescribeVolumes over every volume it holds (each of its instances has a root volume: over 6,000 here) and looks instances up by scanning them all, which EC2 does not. In an AWS account the floor is EC2's own: ${detachFloor(largestSweep)}`,
    },
    {
      figure: 'sweep peak memory at that size (the bundle, dry run, V8 unconstrained)',
      value: largestSweep?.dryRunBundlePeakRssMiB,
      unit: 'MiB',
      limit: 256,
      atMost: false,
      why: "on a machine with plenty of memory V8 lets its young generation grow to 3 × 64 MiB before it collects, and the sweep's list pages are short-lived garbage; the next row is the same sweep with the heap a 256 MB function would give it.",
    },
    {
      figure: `the same with V8's heap capped (--max-old-space-size=${cappedHeapMiB} --max-semi-space-size=${cappedSemiSpaceMiB}: what a 256 MB function allows)`,
      value: largestSweep?.cappedHeapPeakRssMiB,
      unit: 'MiB',
      limit: 256,
      atMost: false,
      why: 'the sweep holds every Node and VolumeAttachment of the cluster, as facts, while it runs.',
    },
  ];
  const shown = (value: number, unit: string) =>
    unit === '×' ? `${value}×` : unit === '' ? `${value}` : `${value} ${unit}`;
  const missed = targets.filter(
    (t) => t.value !== undefined && !(t.atMost ? t.value <= t.limit : t.value < t.limit),
  );
  return [
    '## Cost targets',
    '',
    '| figure | this run | target | met |',
    '|---|---|---|---|',
    ...targets.map((t) => {
      const target = `${t.atMost ? '<=' : '<'} ${shown(t.limit, t.unit)}`;
      if (t.value === undefined) return `| ${t.figure} | not measured | ${target} | - |`;
      const met = !missed.includes(t);
      const verdict = met ? 'yes' : `no, by ${shown(round(t.value - t.limit, 2), t.unit)}`;
      return `| ${t.figure} | ${shown(t.value, t.unit)} | ${target} | ${verdict} |`;
    }),
    '',
    ...(missed.length > 0
      ? ['Where a target is missed:', '', ...missed.map((t) => `- ${t.figure}: ${t.why}`), '']
      : []),
  ];
}

function markdown(results: Results): string {
  const m = results.machine;
  const lines = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench${results.quick ? ' -- --quick' : ''}\` on ${results.date}: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node.js ${m.node}, against the local emulators (moto and a real kube-apiserver on loopback). Raw numbers: \`bench/results.json\`.${results.recovery.date === results.date ? '' : ` The time to recover was measured on ${results.recovery.date}${results.recovery.quick ? ' (--quick)' : ''}.`}`,
    '',
    ...targetsMarkdown(results),
    ...timeToRecoverMarkdown(results.recovery.scenarios, results.recovery.quick),
    `Emulator round trip, for scale: moto DescribeInstances ${results.emulators.motoDescribeInstancesMs} ms, kube-apiserver list nodes ${results.emulators.kubeApiServerListNodesMs} ms (medians of 30).`,
    '',
    '## Time to remediate one node (stopped instance: detach, delete, finalizer, taint)',
    '',
    '| volumes | runs | median | p95 | API calls | waves of overlapping calls | waves before the first change (from the event / from cluster access) |',
    '|---|---|---|---|---|---|---|',
    ...results.remediation.map(
      (r) =>
        `| ${r.volumes} | ${r.runs} | ${r.medianMs} ms | ${r.p95Ms} ms | ${r.totalApiCalls} | ${r.sequentialRoundTrips} | ${r.roundTripsToFirstChange ? `${r.roundTripsToFirstChange.fromEvent} / ${r.roundTripsToFirstChange.fromClusterAccess}` : 'not measured'} |`,
    ),
    '',
    `26 volumes take ${results.ratio26to1}× as long as one (target: at most 1.5×). The volumes are handled concurrently; the emulators answer one call at a time, so the time grows with the number of calls: ${results.remediation.at(-1)?.totalApiCalls} calls of about ${results.emulators.motoDescribeInstancesMs} ms each for 26 volumes.`,
    '',
    ...(results.remediationWithLatency
      ? [
          `With ${apiLatencyMs} ms added to every call by proxies in front of moto and the apiserver: ${results.remediationWithLatency.map((r) => `${r.volumes} volume(s) ${r.medianMs} ms (median of ${r.runs})`).join(', ')}; 26 volumes take ${results.ratio26to1WithLatency}× as long as one. With latency, not the emulators' own work, setting the pace, the time follows the waves of calls, not their number.`,
          '',
        ]
      : []),
    'Waves: calls grouped by overlap in time, each wave started after the one before ended. With one volume this is the critical path in round trips; with more, concurrent chains overlap into fewer waves. The first change is the first DetachVolume or Kubernetes PATCH/DELETE (the out-of-service taint, by default); cluster access is the first Kubernetes request.',
    '',
    'API calls of one remediation of 26 volumes:',
    '',
    '| call | count |',
    '|---|---|',
    ...Object.entries(results.remediation.at(-1)?.apiCalls ?? {}).map(
      ([k, v]) => `| ${k} | ${v} |`,
    ),
    '',
    '## Sweep of a large cluster (four VolumeAttachments per node, 2% of nodes dead)',
    '',
    '| nodes | attachments | dead | instances asked of EC2 | sweep wall time | EC2 busy | EC2 calls | Kubernetes calls | dry-run of the bundle | its peak memory | peak memory with the heap capped |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.sweeps.map(
      (s) =>
        `| ${s.nodes} | ${s.attachments} | ${s.deadNodes} | ${s.instancesAskedOfEc2 ?? 'not measured'} | ${s.wallMs} ms | ${s.ec2BusyMs === undefined ? 'not measured' : `${s.ec2BusyMs} ms`} | ${s.ec2Calls} | ${s.kubernetesCalls} | ${s.dryRunBundleMs} ms | ${s.dryRunBundlePeakRssMiB} MiB | ${s.cappedHeapPeakRssMiB === undefined ? 'not measured' : `${s.cappedHeapPeakRssMiB} MiB`} |`,
    ),
    '',
    `EC2 busy: the time during which at least one EC2 call (to moto) was open${busiestEc2Calls(results.sweeps.at(-1))}. The sweep first reads the state of every node's instance (DescribeInstanceStatus, 100 ids a call: states only, a fraction of DescribeInstances' answer), then describes in full only the stale ones; the release checks of a batch's instances share their DescribeVolumes calls. Moto answers calls by id in time proportional to the instances it holds times the ids asked, and filters DescribeVolumes over every volume it holds, which EC2 does not. Peak memory is the bundle's process, unconstrained (V8 collects lazily on a machine with plenty of memory) and again with its heap capped (\`--max-old-space-size=${cappedHeapMiB} --max-semi-space-size=${cappedSemiSpaceMiB}\`).`,
    '',
    ...(results.zoneOutage ? zoneOutageMarkdown(results.zoneOutage) : []),
    '## Cold start of each bundle (import and client construction in a fresh Node.js process)',
    '',
    '| bundle | loaded at a cold start | deployed (chunks loaded on first use too) | import, median |',
    '|---|---|---|---|',
    ...results.coldStarts.map(
      (c) =>
        `| ${c.bundle} | ${c.sizeKiB} KiB | ${'deployedKiB' in c ? `${c.deployedKiB} KiB` : 'not measured'} | ${c.importMedianMs} ms |`,
    ),
    '',
    "Targets (reported, never asserted): a remediation is a small constant number of sequential round trips whatever its volume count, and 26 volumes take at most 1.5× one; a sweep's EC2 calls grow with batches of instances, not nodes; each bundle is under 1 MB and imports in under 150 ms.",
    '',
  ];
  return lines.join('\n');
}

async function measureSweeps(env: LocalEnvironment) {
  const sweeps = [];
  for (const nodes of sweepSizes) {
    say(`sweeping a cluster of ${nodes} nodes...`);
    sweeps.push(await sweepOfLargeCluster(env, nodes));
  }
  return sweeps;
}

async function measureEmulatorSections(env: LocalEnvironment) {
  say('measuring emulator round trips...');
  const emulators = await emulatorRoundTrips(env);
  const remediation = [];
  for (const volumes of volumeCounts) {
    say(`remediating a node with ${volumes} volumes, ${repetitions} times...`);
    remediation.push(await remediationOfOneNode(env, volumes));
  }
  const remediationWithLatency = [];
  for (const volumes of [1, 26]) {
    say(`remediating a node with ${volumes} volumes, ${apiLatencyMs} ms per call...`);
    remediationWithLatency.push(await remediationOfOneNode(env, volumes, apiLatencyMs));
  }
  const sweeps = await measureSweeps(env);
  say('measuring cold starts...');
  const coldStarts = ['node-loss', 'sweep', 'lifecycle'].map((name) => coldStart(env, name));
  const first = remediation[0]?.medianMs ?? Number.NaN;
  const last = remediation.at(-1)?.medianMs ?? Number.NaN;
  return {
    date: new Date().toISOString(),
    quick,
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      memoryGiB: round(totalmem() / 1024 ** 3),
      node: process.version,
    },
    emulators,
    remediation,
    ratio26to1: round(last / first, 2),
    remediationWithLatency,
    ratio26to1WithLatency: round(
      (remediationWithLatency.at(-1)?.medianMs ?? Number.NaN) /
        (remediationWithLatency[0]?.medianMs ?? Number.NaN),
      2,
    ),
    sweeps,
    coldStarts,
  };
}

// biome-ignore lint/complexity/noExcessiveCognitiveComplexity: the benchmark runner: one flat sequence of sections, each behind its --only flag, read top to bottom; split, it would only scatter the order the report follows
async function main() {
  const started = Date.now();
  const resultsPath = join(repoRoot, 'bench', 'results.json');
  // `--render` writes BENCHMARKS.md again from bench/results.json, measuring nothing.
  if (process.argv.includes('--render')) {
    const results = JSON.parse(readFileSync(resultsPath, 'utf8')) as Results;
    writeFileSync(join(repoRoot, 'BENCHMARKS.md'), markdown(results));
    return;
  }
  const previous = only ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as Results) : undefined;
  const measureRecovery = only === undefined || only === 'recovery';
  const measureStorm = only === undefined || only === 'storm';
  say(
    `starting moto and kube-apiserver${measureRecovery ? ', and the full control plane' : ''}...`,
  );
  const env = await startLocalEnvironment({ controlPlane: measureRecovery });
  try {
    say('building the bundles...');
    await run(process.execPath, [join(repoRoot, 'scripts/build.ts')], { cwd: repoRoot });
    let recovery = previous?.recovery;
    if (measureRecovery && env.controlPlane) {
      const scenarios = await measureTimeToRecover(
        env.controlPlane,
        // The control plane's world: EC2 as it behaves, in front of moto.
        env.controlPlane.awsEndpoint,
        { runs: recoveryRuns, skipAlone: quick },
        say,
      );
      recovery = { date: new Date().toISOString(), quick, scenarios };
    }
    if (!recovery) throw new Error('no time-to-recover numbers, measured or previous');
    const emulator =
      (only === 'recovery' || only === 'storm') && previous
        ? previous
        : only === 'sweep' && previous
          ? { ...previous, sweeps: await measureSweeps(env) }
          : await measureEmulatorSections(env);
    const zoneOutage = measureStorm ? await measureZoneOutage(env, say) : previous?.zoneOutage;
    const results: Results = {
      date: emulator.date,
      quick: emulator.quick,
      machine: emulator.machine,
      recovery,
      emulators: emulator.emulators,
      remediation: emulator.remediation,
      ratio26to1: emulator.ratio26to1,
      ...(emulator.remediationWithLatency
        ? {
            remediationWithLatency: emulator.remediationWithLatency,
            ratio26to1WithLatency: emulator.ratio26to1WithLatency,
          }
        : {}),
      sweeps: emulator.sweeps,
      coldStarts: emulator.coldStarts,
      ...(zoneOutage ? { zoneOutage } : {}),
      benchmarkSeconds: round((Date.now() - started) / 1000),
    };
    writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(repoRoot, 'BENCHMARKS.md'), markdown(results));
    process.stdout.write(readFileSync(join(repoRoot, 'BENCHMARKS.md'), 'utf8'));
  } finally {
    await env.stop();
  }
}

await main();
