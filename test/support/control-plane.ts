/**
 * The Kubernetes side of the test environment, built from Go modules (control-plane/ and
 * cloud-agents/): a kube-apiserver with embedded etcd, and, for the tests whose outcome
 * Kubernetes' own controllers decide, kube-controller-manager, kube-scheduler, the real CSI
 * external-attacher with a CSI controller plugin that attaches in moto, simulated kubelets and
 * the cloud node lifecycle. Vitest-free: global-setup.ts, the demo and the benchmarks use it.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ensureGoProgramBuilt } from './go-build.ts';
import { applyManifestFile, applyObjects } from './kube-manifests.ts';
import { cacheDir, ensureDir, logDir, repoRoot } from './paths.ts';
import {
  type ServerProcess,
  startProcess,
  TestEnvironmentError,
  waitForLine,
  waitUntil,
} from './processes.ts';

/** What a running kube-apiserver tells the tests. */
export interface KubeApiServerInfo {
  readonly server: string;
  /** Kubeconfig files: `admin` (system:masters) and `remediator` (the remediator's RBAC identity). */
  readonly kubeconfigs: { readonly admin: string; readonly remediator: string };
}

export interface RunningKubeApiServer extends KubeApiServerInfo {
  /** The folder with the apiserver's certificates and its service account key. */
  readonly dataDir: string;
  stop(): Promise<void>;
}

const controlPlaneProgram = {
  name: 'control-plane',
  sourceDir: join(repoRoot, 'test', 'support', 'control-plane'),
  binaries: { 'control-plane': '.' },
  coldBuild: 'about 6 minutes',
} as const;

const cloudAgentsProgram = {
  name: 'cloud-agents',
  sourceDir: join(repoRoot, 'test', 'support', 'cloud-agents'),
  binaries: {
    'cloud-agents': '.',
    'csi-attacher': 'github.com/kubernetes-csi/external-attacher/v4/cmd/csi-attacher',
  },
  coldBuild: 'about 4 minutes',
} as const;

/** Builds the control-plane program (apiserver, controller-manager, scheduler) when needed. */
export async function ensureControlPlaneBuilt(): Promise<string> {
  return (await ensureGoProgramBuilt(controlPlaneProgram))['control-plane'] ?? '';
}

/** Builds the cloud agents and the external-attacher when needed. */
export async function ensureCloudAgentsBuilt(): Promise<CloudAgentBinaries> {
  const paths = await ensureGoProgramBuilt(cloudAgentsProgram);
  return { agents: paths['cloud-agents'] ?? '', attacher: paths['csi-attacher'] ?? '' };
}

export interface CloudAgentBinaries {
  readonly agents: string;
  readonly attacher: string;
}

function logFile(name: string): string {
  return join(ensureDir(logDir), `${name}.log`);
}

/** Starts one kube-apiserver (with embedded etcd) and waits until it is ready. */
export async function startKubeApiServer(
  binary: string,
  name = 'kube-apiserver',
): Promise<RunningKubeApiServer> {
  const dataDir = mkdtempSync(join(ensureDir(join(cacheDir, 'run')), `${name}-`));
  const server: ServerProcess = startProcess({
    name,
    command: binary,
    args: ['apiserver', '-dir', dataDir],
    logFile: logFile(name),
  });
  const stop = async () => {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const info = await waitForLine(
      server,
      name,
      (line) => {
        if (!line.startsWith('{')) return undefined;
        const parsed = JSON.parse(line) as { ready?: boolean } & KubeApiServerInfo;
        return parsed.ready ? parsed : undefined;
      },
      180_000,
    );
    return { server: info.server, kubeconfigs: info.kubeconfigs, dataDir, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A process that must stay up: fails loudly when it exits within `settleMs` of its start. */
async function startLongRunning(
  name: string,
  command: string,
  args: readonly string[],
  settleMs = 2_000,
): Promise<ServerProcess> {
  const process = startProcess({ name, command, args, logFile: logFile(name) });
  const exited = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), settleMs);
    process.child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  if (exited) {
    throw new TestEnvironmentError(`${name} exited right after it started; see ${process.logFile}`);
  }
  return process;
}

/** The whole control plane: what tests of the outcome (the replacement pod Running) need. */
export interface ControlPlaneInfo extends KubeApiServerInfo {
  /** JSON lines: every attach and detach the CSI controller made in EC2. */
  readonly ec2Log: string;
}

export interface RunningControlPlane extends ControlPlaneInfo {
  /** Stops the external-attacher and its CSI plugin, as when they are lost with a node. */
  stopCsiController(): Promise<void>;
  /** Starts them again (both together: the attacher exits when its plugin restarts). */
  startCsiController(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a kube-apiserver with kube-controller-manager and kube-scheduler (every timer at
 * Kubernetes' default), the CSIDriver ebs.csi.aws.com with the external-attacher and a CSI
 * controller attaching in the EC2 emulator at `ec2Endpoint`, simulated kubelets and the cloud
 * node lifecycle. Applies the remediator's RBAC.
 */
export async function startControlPlane(
  binary: string,
  agents: CloudAgentBinaries,
  ec2Endpoint: string,
): Promise<RunningControlPlane> {
  const apiserver = await startKubeApiServer(binary, 'control-plane-apiserver');
  const stops: Array<() => Promise<void>> = [apiserver.stop];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const admin = apiserver.kubeconfigs.admin;
    const serviceAccountKey = join(apiserver.dataDir, 'certs', 'service-account.key');
    const controllerManager = await startLongRunning('kube-controller-manager', binary, [
      'controller-manager',
      `--kubeconfig=${admin}`,
      '--leader-elect=false',
      // The cloud controllers belong to a cloud-controller-manager; its node lifecycle is
      // played by the cloud agents, per test cluster.
      '--controllers=*,-service-lb-controller,-node-route-controller,-cloud-node-lifecycle-controller',
      '--use-service-account-credentials=false',
      `--service-account-private-key-file=${serviceAccountKey}`,
      '--secure-port=0',
      '--v=2',
    ]);
    stops.push(() => controllerManager.stop(2_000));
    const scheduler = await startLongRunning('kube-scheduler', binary, [
      'scheduler',
      `--kubeconfig=${admin}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--v=1',
    ]);
    stops.push(() => scheduler.stop(2_000));

    await applyManifestFile(admin, join(repoRoot, 'infra', 'kubernetes', 'rbac.yaml'));
    // The optional grant of DELETE_TERMINATED_NODES, which tests here use.
    await applyManifestFile(admin, join(repoRoot, 'infra', 'kubernetes', 'rbac-delete-nodes.yaml'));
    await applyObjects(admin, [
      {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'CSIDriver',
        metadata: { name: 'ebs.csi.aws.com' },
        spec: { attachRequired: true, podInfoOnMount: false },
      },
    ]);

    const nodes = startProcess({
      name: 'cloud-agents-nodes',
      command: agents.agents,
      args: ['nodes', '-kubeconfig', admin, '-ec2-endpoint', ec2Endpoint],
      logFile: logFile('cloud-agents-nodes'),
    });
    stops.push(() => nodes.stop(2_000));
    await waitForLine(
      nodes,
      'simulated kubelets',
      (line) => (line.includes('"ready"') ? true : undefined),
      60_000,
    );

    const runDir = mkdtempSync(join(ensureDir(join(cacheDir, 'run')), 'csi-'));
    stops.push(async () => rmSync(runDir, { recursive: true, force: true }));
    const ec2Log = join(runDir, 'ec2-attachments.jsonl');
    const csi = csiController(agents, admin, ec2Endpoint, join(runDir, 'csi.sock'), ec2Log);
    await csi.start();
    stops.push(csi.stop);

    // The controller manager is working once its service account controller has acted.
    await waitUntil(
      `kube-controller-manager creating the default ServiceAccount (log: ${logFile('kube-controller-manager')})`,
      async () => {
        const config = new KubeConfig();
        config.loadFromFile(admin);
        await config
          .makeApiClient(CoreV1Api)
          .readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
        return true;
      },
      60_000,
      500,
    );

    return {
      server: apiserver.server,
      kubeconfigs: apiserver.kubeconfigs,
      ec2Log,
      stopCsiController: csi.stop,
      startCsiController: csi.start,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function csiController(
  agents: CloudAgentBinaries,
  kubeconfig: string,
  ec2Endpoint: string,
  socket: string,
  ec2Log: string,
) {
  let running: ServerProcess[] = [];
  const stop = async () => {
    const stopping = running;
    running = [];
    for (const process of stopping.reverse()) await process.stop(2_000);
  };
  const start = async () => {
    if (running.length > 0) return;
    rmSync(socket, { force: true });
    const plugin = startProcess({
      name: 'ebs-csi-controller',
      command: agents.agents,
      args: [
        'ebs-csi-controller',
        '-csi-address',
        socket,
        '-ec2-endpoint',
        ec2Endpoint,
        '-ec2-log',
        ec2Log,
      ],
      logFile: logFile('ebs-csi-controller'),
    });
    running.push(plugin);
    await waitUntil(
      `the CSI controller's socket ${socket}`,
      async () => existsSync(socket),
      30_000,
      100,
    );
    running.push(
      await startLongRunning('csi-attacher', agents.attacher, [
        `--csi-address=${socket}`,
        `--kubeconfig=${kubeconfig}`,
        '--leader-election=false',
        '--v=2',
      ]),
    );
  };
  return { start, stop };
}
