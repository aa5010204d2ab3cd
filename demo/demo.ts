// The main job on the local emulators: the node of a StatefulSet pod dies, the real EventBridge
// event goes to the built node-loss bundle, and the demo watches the outcome a user waits for:
// the replacement pod Running on another node with its volume, and how long that took, beside
// what Kubernetes alone takes (from BENCHMARKS.md). Then a dry-run sweep finds nothing left to
// do. Everything runs on this machine: moto and the real control plane of the test environment.
//
//   npm run demo
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScenarioResult } from '../bench/time-to-recover.ts';
import type { InstanceReport } from '../functions/shared/remediation/remediate.ts';
import type { SweepReport } from '../functions/shared/remediation/sweep.ts';
import { invokeBundleAsync, resultOf } from '../test/support/bundle-process.ts';
import { awsEnvironmentFor } from '../test/support/endpoints.ts';
import { startLocalEnvironment } from '../test/support/local-environment.ts';
import { repoRoot } from '../test/support/paths.ts';
import { run } from '../test/support/processes.ts';
import { beforeDeath, watchRecovery } from '../test/support/recovery.ts';
import { ec2StateChangeEvent } from '../test/support/samples.ts';
import { StatefulCluster } from '../test/support/stateful-cluster.ts';

const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: string) => (text: string) =>
  color ? `\u001b[${code}m${text}\u001b[0m` : text;
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const red = paint('31');
const cyan = paint('36');

const started = Date.now();
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const say = (line = '') => process.stdout.write(`${line}\n`);

/** Runs one step, printing its title and how long it took; a failure names the step. */
async function step<T>(title: string, work: () => Promise<T>): Promise<T> {
  say(`${cyan('▸')} ${bold(title)}`);
  const at = Date.now();
  try {
    const result = await work();
    say(dim(`  (${seconds(Date.now() - at)})`));
    return result;
  } catch (error) {
    throw new Error(`${title}: ${(error as Error).message}`, { cause: error });
  }
}

function check(ok: boolean, text: string): boolean {
  say(`  ${ok ? green('✓') : red('✗')} ${text}`);
  return ok;
}

/** What BENCHMARKS.md says Kubernetes alone takes for the same death, if it was measured. */
function kubernetesAloneFromBenchmarks(): string {
  try {
    const results = JSON.parse(readFileSync(join(repoRoot, 'bench', 'results.json'), 'utf8')) as {
      recovery?: { date: string; scenarios: ScenarioResult[] };
    };
    const alone = results.recovery?.scenarios.find((s) => s.scenario.id === 'terminated')?.alone;
    if (!alone) return 'not measured yet (npm run bench)';
    const time =
      alone.replacementRunning === undefined ? 'more than 540 s' : `${alone.replacementRunning} s`;
    return `${time} (measured by npm run bench on ${results.recovery?.date.slice(0, 10)}, BENCHMARKS.md)`;
  } catch {
    return 'not measured yet (npm run bench)';
  }
}

async function demo(): Promise<boolean> {
  say(
    bold(
      'ebs-volume-remediator demo: a node dies; its StatefulSet pod runs again elsewhere, with its volume',
    ),
  );
  say(
    dim(
      'Everything runs here: moto (AWS), a real kube-apiserver, kube-controller-manager, kube-scheduler, ' +
        'the CSI external-attacher and simulated kubelets, every Kubernetes timer at its default.',
    ),
  );
  say();

  const stops: Array<() => Promise<void>> = [];
  try {
    const local = await step('starting moto and the Kubernetes control plane', async () => {
      const local = await startLocalEnvironment({ controlPlane: true });
      stops.push(local.stop);
      say(
        `  kube-apiserver ${local.controlPlane?.server}, EC2 ${local.controlPlane?.awsEndpoint} ` +
          `(moto ${local.awsEndpoint} behind a layer that gives it EC2's timing)`,
      );
      return local;
    });
    const controlPlane = local.controlPlane;
    if (!controlPlane) throw new Error('the control plane did not start');

    await step('building the functions (npm run build)', () =>
      run(process.execPath, [join(repoRoot, 'scripts/build.ts')], { cwd: repoRoot }),
    );

    const cluster = await step(
      'a cluster of 3 nodes (a cloud node lifecycle deletes Nodes of terminated instances, as on EKS) running StatefulSet "db" with 2 replicas, each with its EBS volume',
      async () => {
        const cluster = await StatefulCluster.start(
          'demo',
          {
            awsEndpoint: controlPlane.awsEndpoint,
            adminKubeconfig: controlPlane.kubeconfigs.admin,
          },
          { replicas: 2, cloudNodeLifecycle: true },
        );
        stops.unshift(() => cluster.dispose());
        for (const replica of cluster.replicas) {
          const node = await cluster.nodeOf(replica);
          say(
            `  ${replica.podName}  Running on ${node.nodeName} (${node.instanceId})  ${replica.volumeId}`,
          );
        }
        return cluster;
      },
    );
    const [replica, other] = cluster.replicas;
    if (!replica || !other) throw new Error('the StatefulSet has fewer than 2 replicas');
    const before = await beforeDeath(cluster, replica);
    const otherBefore = await cluster.nodeOf(other);
    const dead = before.deadNode;

    const diedAt = Date.now();
    await step(`EC2 terminates ${dead.instanceId}, the node of ${replica.podName}`, () =>
      cluster.terminateInstance(dead),
    );

    const remediator = {
      ...awsEnvironmentFor(controlPlane.awsEndpoint),
      CLUSTER_NAME: cluster.name,
      KUBECONFIG: controlPlane.kubeconfigs.remediator,
      NODE_SELECTOR: cluster.labelSelector,
      POWERTOOLS_METRICS_DISABLED: 'true',
    };
    const [timeline] = await step(
      'EventBridge delivers "EC2 Instance State-change Notification" to dist/node-loss; Kubernetes does the rest (then one attach/detach sync period, 65 s, to see that nothing undoes it)',
      () =>
        Promise.all([
          // After the recovery, one sync period of the attach/detach controller, to see that
          // nothing undoes it.
          watchRecovery({ ...before, diedAt }, controlPlane.ec2Log, {
            timeoutMs: 300_000,
            settleMs: 65_000,
          }),
          (async () => {
            const at = Date.now();
            const invocation = await invokeBundleAsync(
              'node-loss',
              ec2StateChangeEvent(dead.instanceId, 'terminated'),
              remediator,
            );
            const result = resultOf('node-loss', invocation) as { instances: InstanceReport[] };
            for (const line of invocation.lines.filter((l) => l.message === 'action')) {
              say(
                `  ${String(line.action).padEnd(24)} ${String(line.pod ?? line.volumeAttachment ?? line.volumeId ?? line.node).slice(0, 24)}…  ${line.outcome}  ${dim(`${line.durationMs} ms`)}`,
              );
            }
            say(
              `  node-loss: ${result.instances?.[0]?.outcome} in ${seconds(Date.now() - at)}, including a cold start of the bundle`,
            );
          })(),
        ]),
    );

    const ok = await step('the outcome, in seconds from the death', async () => {
      const at = (value: number | undefined) => (value === undefined ? 'not yet' : `${value} s`);
      say(`  old pod gone                  ${at(timeline.oldPodGone)}`);
      say(
        `  replacement scheduled         ${at(timeline.replacementScheduled)} on ${timeline.replacementNode ?? '-'}`,
      );
      say(`  its volume attached there     ${at(timeline.volumeAttached)}`);
      say(`  replacement Running           ${at(timeline.replacementRunning)}`);
      say(`  Kubernetes alone              ${kubernetesAloneFromBenchmarks()}`);
      let all = check(
        timeline.recovered && timeline.replacementNode !== dead.nodeName,
        `${replica.podName} Running on ${timeline.replacementNode ?? 'no node'} with ${replica.volumeId} attached`,
      );
      all =
        check(
          timeline.volumeAttachmentsRecreated === 0 && timeline.reattachmentsToDeadInstance === 0,
          `no fight with the attach/detach controller: ${timeline.volumeAttachmentsRecreated} VolumeAttachments ` +
            `created again for the dead node, ${timeline.reattachmentsToDeadInstance} attaches to the dead instance`,
        ) && all;
      const otherNow = await cluster.nodeOf(other);
      all =
        check(
          otherNow.nodeName === otherBefore.nodeName && (await cluster.isRunningWithVolume(other)),
          `${other.podName}: untouched on its running node ${otherNow.nodeName}`,
        ) && all;
      return all;
    });

    const swept = await step('a dry-run sweep of the cluster (dist/sweep)', async () => {
      const { sweep } = resultOf(
        'sweep',
        await invokeBundleAsync('sweep', { action: 'sweep', dryRun: true }, remediator),
      ) as { sweep: SweepReport };
      say(
        `  ${sweep.nodesExamined} nodes and ${sweep.attachmentsExamined} attachments examined, ` +
          `${sweep.staleInstances} stale instances, ${sweep.staleAttachments} stale attachments`,
      );
      return check(sweep.staleAttachments === 0 && sweep.complete, 'nothing left to do');
    });
    return ok && swept;
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
  }
}

try {
  const ok = await demo();
  say();
  say(
    ok
      ? `${green(bold('done'))} in ${seconds(Date.now() - started)}; the control plane and moto stopped`
      : `${red(bold('the demo found a problem'))}: see the ✗ lines above`,
  );
  process.exitCode = ok ? 0 : 1;
} catch (error) {
  say();
  say(`${red(bold('demo failed'))}: ${(error as Error).message}`);
  process.exitCode = 1;
}
