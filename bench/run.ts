// Benchmarks on the local emulators (`npm run bench`, `npm run bench -- --quick`): time to
// recover (bench/time-to-recover.ts, the headline), time to remediate one node by volume count, API calls and sequential round trips per remediation,
// sweeps of large clusters, the zone-outage storm (bench/zone-outage.ts), and the cold start of each bundle. Writes bench/results.json and
// BENCHMARKS.md from the numbers of this run; nothing is typed in.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { providerIdFor } from '../functions/shared/aws-ids.ts';
import { loadConfig } from '../functions/shared/config.ts';
import { parseNodeLossInput, parseSweepInput } from '../functions/shared/events/registry.ts';
import { handleInput } from '../functions/shared/handle-input.ts';
import {
  csiNodeIdAnnotation,
  ebsCsiAttacher,
  ebsCsiAttacherFinalizer,
  volumeAttachmentName,
} from '../functions/shared/volume-attachment-name.ts';
import { invokeBundle, resultOf } from '../test/support/bundle-process.ts';
import { awsClientConfigFor, awsEnvironmentFor, testRegion } from '../test/support/endpoints.ts';
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
if (only !== undefined && only !== 'recovery' && only !== 'emulator' && only !== 'storm') {
  throw new Error(`--only takes "recovery", "emulator" or "storm", not ${JSON.stringify(only)}`);
}
const recoveryRuns = 3;
const repetitions = quick ? 3 : 7;
const volumeCounts = [1, 8, 26];
const sweepSizes = quick ? [200, 1000] : [1000, 5000];
const coldStartRuns = quick ? 5 : 10;

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

async function remediationOfOneNode(env: LocalEnvironment, volumes: number) {
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

    const recorder = new ApiCallRecorder(env.kubeServer);
    const ec2 = new EC2Client(awsClientConfigFor(env.awsEndpoint));
    recorder.instrument(ec2, 'ec2');
    const { deps } = wireHandler(remediatorSettings(cluster, env), env.awsEndpoint, ec2);
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
  return {
    volumes,
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
  // Healthy nodes: Nodes and VolumeAttachments only. A sweep reads no more of a running node.
  await inBatches(instances, 32, async ({ instanceId, nodeName }) => {
    await cluster.core.createNode({
      body: {
        metadata: { name: nodeName, labels: { [testClusterLabel]: cluster.name } },
        spec: { providerID: providerIdFor(`${testRegion}a`, instanceId) },
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
  // Dead nodes: the real thing, half stopped (volumes still attached), half terminated.
  const deadNodes: TestNode[] = [];
  for (let d = 0; d < dead; d++) {
    const node = await cluster.addNode();
    for (let v = 0; v < 4; v++) await cluster.addVolume(node);
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
  const dryStart = performance.now();
  const bundleRun = invokeBundle(
    'sweep',
    { action: 'sweep', dryRun: true },
    {
      ...awsEnvironmentFor(env.awsEndpoint),
      ...settings,
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'WARN',
    },
  );
  const dryRunMs = performance.now() - dryStart;
  resultOf('sweep', bundleRun);

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
    sizeKiB: round(statSync(bundle).size / 1024, 0),
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
  readonly sweeps: Awaited<ReturnType<typeof sweepOfLargeCluster>>[];
  readonly coldStarts: ReturnType<typeof coldStart>[];
  /** The zone-outage storm; absent in results written before it was measured. */
  readonly zoneOutage?: ZoneOutageResult;
  readonly benchmarkSeconds: number;
}

/**
 * The cost targets (cold start, round trips, volume count, sweep scale): each figure of this
 * run against its target, met or missed by how much.
 */
function targetsMarkdown(results: Results): string[] {
  const largestSweep = results.sweeps.at(-1);
  const oneVolume = results.remediation[0]?.roundTripsToFirstChange;
  const rows: Array<[string, number | undefined, string, number, string]> = [
    [
      'bundle size, largest function',
      Math.max(...results.coldStarts.map((c) => c.sizeKiB)),
      'KiB',
      1000,
      '< 1,000 KiB',
    ],
    [
      'import and client construction, slowest function (median of fresh processes)',
      Math.max(...results.coldStarts.map((c) => c.importMedianMs)),
      'ms',
      150,
      '< 150 ms',
    ],
    [
      'sequential round trips from cluster access to the first change (one volume)',
      oneVolume?.fromClusterAccess,
      '',
      2,
      '<= 2',
    ],
    ['26 volumes vs one, same run', results.ratio26to1, '×', 1.5, '<= 1.5×'],
    [
      `sweep of ${largestSweep?.nodes} nodes / ${largestSweep?.attachments} VolumeAttachments, 2 % dead`,
      largestSweep === undefined ? undefined : round(largestSweep.wallMs / 1000),
      's',
      30,
      '< 30 s',
    ],
    [
      'sweep peak memory at that size (the bundle, dry run)',
      largestSweep?.dryRunBundlePeakRssMiB,
      'MiB',
      256,
      '< 256 MiB',
    ],
  ];
  return [
    '## Cost targets',
    '',
    '| figure | this run | target | met |',
    '|---|---|---|---|',
    ...rows.map(([figure, value, unit, limit, target]) => {
      if (value === undefined) return `| ${figure} | not measured | ${target} | - |`;
      const met = target.startsWith('<=') ? value <= limit : value < limit;
      const by = met
        ? 'yes'
        : `no, by ${round(value - limit, 2)}${unit === '×' ? '×' : ` ${unit}`}`;
      return `| ${figure} | ${value}${unit === '×' ? '×' : ` ${unit}`} | ${target} | ${by} |`;
    }),
    '',
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
    '| nodes | attachments | dead | sweep wall time | EC2 calls | Kubernetes calls | dry-run of the bundle | its peak memory |',
    '|---|---|---|---|---|---|---|---|',
    ...results.sweeps.map(
      (s) =>
        `| ${s.nodes} | ${s.attachments} | ${s.deadNodes} | ${s.wallMs} ms | ${s.ec2Calls} | ${s.kubernetesCalls} | ${s.dryRunBundleMs} ms | ${s.dryRunBundlePeakRssMiB} MiB |`,
    ),
    '',
    ...(results.zoneOutage ? zoneOutageMarkdown(results.zoneOutage) : []),
    '## Cold start of each bundle (import and client construction in a fresh Node.js process)',
    '',
    '| bundle | size | import, median |',
    '|---|---|---|',
    ...results.coldStarts.map((c) => `| ${c.bundle} | ${c.sizeKiB} KiB | ${c.importMedianMs} ms |`),
    '',
    "Targets (reported, never asserted): a remediation is a small constant number of sequential round trips whatever its volume count, and 26 volumes take at most 1.5× one; a sweep's EC2 calls grow with batches of instances, not nodes; each bundle is under 1 MB and imports in under 150 ms.",
    '',
  ];
  return lines.join('\n');
}

async function measureEmulatorSections(env: LocalEnvironment) {
  say('measuring emulator round trips...');
  const emulators = await emulatorRoundTrips(env);
  const remediation = [];
  for (const volumes of volumeCounts) {
    say(`remediating a node with ${volumes} volumes, ${repetitions} times...`);
    remediation.push(await remediationOfOneNode(env, volumes));
  }
  const sweeps = [];
  for (const nodes of sweepSizes) {
    say(`sweeping a cluster of ${nodes} nodes...`);
    sweeps.push(await sweepOfLargeCluster(env, nodes));
  }
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
    sweeps,
    coldStarts,
  };
}

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
        env.awsEndpoint,
        { runs: recoveryRuns, skipAlone: quick },
        say,
      );
      recovery = { date: new Date().toISOString(), quick, scenarios };
    }
    if (!recovery) throw new Error('no time-to-recover numbers, measured or previous');
    const emulator =
      (only === 'recovery' || only === 'storm') && previous
        ? previous
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
