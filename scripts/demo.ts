// The main job on the local emulators: a node of a small cluster dies, the real EventBridge
// event goes to the built node-loss bundle, and its volumes are free in about a second. Then a
// dry-run sweep finds nothing left to do. Everything runs on this machine: the real
// kube-apiserver and the moto AWS emulator of the test environment.
//
//   npm run demo
import { join } from 'node:path';
import type { InstanceReport } from '../functions/shared/remediation/remediate.ts';
import type { SweepReport } from '../functions/shared/remediation/sweep.ts';
import { invokeBundle, resultOf } from '../test/support/bundle-process.ts';
import { awsEnvironmentFor, type Endpoints } from '../test/support/endpoints.ts';
import { TestCluster, type TestNode, type TestVolume } from '../test/support/fixtures.ts';
import { startLocalEnvironment } from '../test/support/local-environment.ts';
import { repoRoot } from '../test/support/paths.ts';
import { run } from '../test/support/processes.ts';
import { ec2StateChangeEvent } from '../test/support/samples.ts';

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

async function demo(): Promise<boolean> {
  say(
    bold(
      'ebs-volume-remediator demo: a node dies; its volumes are free for the new node in seconds',
    ),
  );
  say(dim('Everything runs here: a real kube-apiserver and the moto AWS emulator.'));
  say();

  const stops: Array<() => Promise<void>> = [];
  try {
    const endpoints: Endpoints = await step('starting kube-apiserver and moto', async () => {
      const local = await startLocalEnvironment();
      stops.push(local.stop);
      say(`  kube-apiserver ${local.kubeServer}, moto ${local.awsEndpoint}`);
      return local;
    });

    await step('building the functions (npm run build)', () =>
      run(process.execPath, [join(repoRoot, 'scripts/build.ts')], { cwd: repoRoot }),
    );

    const cluster = TestCluster.create('demo', endpoints);
    const { nodes, volumes } = await step(
      'a cluster of 3 nodes running StatefulSet "web" with 3 replicas (4 EBS volumes)',
      async () => {
        const nodes = [await cluster.addNode(), await cluster.addNode(), await cluster.addNode()];
        const claims: Array<[TestNode, string]> = [
          [nodes[0] as TestNode, 'data-web-0'],
          [nodes[0] as TestNode, 'logs-web-0'],
          [nodes[1] as TestNode, 'data-web-1'],
          [nodes[2] as TestNode, 'data-web-2'],
        ];
        const volumes: Array<{ node: TestNode; claim: string; volume: TestVolume }> = [];
        for (const [node, claim] of claims) {
          volumes.push({
            node,
            claim,
            volume: await cluster.addVolume(node, { claimName: claim }),
          });
        }
        for (const node of nodes) {
          const held = volumes
            .filter((v) => v.node === node)
            .map((v) => `${v.claim} (${v.volume.volumeId})`);
          say(`  ${node.nodeName}  ${node.instanceId}  ${held.join(', ')}`);
        }
        return { nodes, volumes };
      },
    );
    const dead = nodes[0] as TestNode;
    const deadVolumes = volumes.filter((v) => v.node === dead);
    const otherVolumes = volumes.filter((v) => v.node !== dead);

    await step(`EC2 terminates ${dead.instanceId} (node ${dead.nodeName})`, async () => {
      await cluster.terminateInstance(dead);
      const names = await cluster.volumeAttachmentNames();
      const held = deadVolumes.filter((v) => names.includes(v.volume.volumeAttachmentName)).length;
      say(
        `  EC2 let go of its volumes, but Kubernetes still holds ${held} VolumeAttachments: pod web-0, ` +
          'rescheduled, would wait on "Multi-Attach error" for 6 minutes or more',
      );
    });

    const remediator = {
      ...awsEnvironmentFor(endpoints.awsEndpoint),
      CLUSTER_NAME: cluster.name,
      KUBECONFIG: endpoints.kubeconfigs.remediator,
      // No external-attacher runs here: after this grace the remediator removes its finalizer.
      ATTACHER_GRACE_SECONDS: '1',
      POWERTOOLS_METRICS_DISABLED: 'true',
    };
    await step(
      'EventBridge delivers "EC2 Instance State-change Notification" to dist/node-loss',
      async () => {
        const at = Date.now();
        const invocation = invokeBundle(
          'node-loss',
          ec2StateChangeEvent(dead.instanceId, 'terminated'),
          remediator,
        );
        const result = resultOf('node-loss', invocation) as { instances: InstanceReport[] };
        const elapsed = Date.now() - at;
        for (const line of invocation.lines.filter((l) => l.message === 'action')) {
          const claim = deadVolumes.find((v) => v.volume.volumeId === line.volumeId)?.claim ?? '';
          say(
            `  ${String(line.action).padEnd(24)} ${String(line.volumeAttachment ?? line.volumeId ?? line.node).slice(0, 20)}…  ${claim.padEnd(11)} ${line.outcome}  ${dim(`${line.durationMs} ms`)}`,
          );
        }
        const outcome = result.instances?.[0]?.outcome;
        say(`  node-loss: ${outcome}, ${seconds(elapsed)} including a cold start of the bundle`);
      },
    );

    const ok = await step('the state afterwards, as the systems report it', async () => {
      const names = await cluster.volumeAttachmentNames();
      let all = true;
      for (const { claim, volume } of deadVolumes) {
        const state = await cluster.volume(volume.volumeId);
        all =
          check(
            !names.includes(volume.volumeAttachmentName) && state.state === 'available',
            `${claim}: VolumeAttachment gone, ${volume.volumeId} ${state.state}: free for the new node`,
          ) && all;
      }
      for (const { claim, node, volume } of otherVolumes) {
        const state = await cluster.volume(volume.volumeId);
        all =
          check(
            names.includes(volume.volumeAttachmentName) &&
              state.attachedTo.includes(node.instanceId),
            `${claim}: untouched on its running node ${node.nodeName}`,
          ) && all;
      }
      return all;
    });

    const swept = await step('a dry-run sweep of the cluster (dist/sweep)', async () => {
      const { sweep } = resultOf(
        'sweep',
        invokeBundle('sweep', { action: 'sweep', dryRun: true }, remediator),
      ) as { sweep: SweepReport };
      say(
        `  ${sweep.nodesExamined} nodes and ${sweep.attachmentsExamined} attachments examined, ` +
          `${sweep.staleInstances} stale instances, ${sweep.staleAttachments} stale attachments`,
      );
      return check(sweep.staleAttachments === 0 && sweep.complete, 'nothing left to do');
    });
    return ok && swept;
  } finally {
    await Promise.all(stops.map((stop) => stop().catch(() => undefined)));
  }
}

try {
  const ok = await demo();
  say();
  say(
    ok
      ? `${green(bold('done'))} in ${seconds(Date.now() - started)}; kube-apiserver and moto stopped`
      : `${red(bold('the demo found a problem'))}: see the ✗ lines above`,
  );
  process.exitCode = ok ? 0 : 1;
} catch (error) {
  say();
  say(`${red(bold('demo failed'))}: ${(error as Error).message}`);
  process.exitCode = 1;
}
