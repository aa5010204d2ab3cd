/**
 * The Kubernetes side of the test environment, built from Go modules (control-plane/,
 * cloud-agents/ and ebs-csi-driver/): a kube-apiserver with embedded etcd, and, for the tests
 * whose outcome Kubernetes' own controllers decide, kube-controller-manager, kube-scheduler, the
 * real CSI external-attacher in front of the real EBS CSI driver's controller, simulated kubelets
 * and the cloud node lifecycle, all talking to EC2 through the layer that gives moto EC2's
 * behaviour (ec2-as-it-behaves.ts). Vitest-free: global-setup.ts, the demo and the benchmarks
 * use it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import {
  ebsCsiAttacher,
  eksAutoModeEbsAttacher,
} from '#functions/shared/contract/kubernetes-identity.ts';
import {
  applyCloudNodeLifecycleSwitch,
  awsCloudControllerArgs,
  awsCloudControllerProgram,
} from './aws-cloud-controller.ts';
import { startEc2AsItBehaves } from './ec2-as-it-behaves/index.ts';
import { testRegion } from './endpoints.ts';
import { ensureGoProgramBuilt, type GoProgram } from './go-build.ts';
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
  /** The kubeconfig of the AWS cloud-controller-manager's own identity. */
  readonly cloudControllerKubeconfig: string;
  stop(): Promise<void>;
}

const controlPlaneDir = join(repoRoot, 'test', 'support', 'control-plane');

/**
 * The Kubernetes minors the control plane is built at: the same program against each minor's
 * modules (its go.mod and go.sum). 1.35 is the one CI runs; the others run with
 * KUBERNETES_VERSION set (`npm run test:kubernetes-versions`).
 */
const controlPlaneModules: ReadonlyMap<string, string> = new Map([
  ['1.33', join(controlPlaneDir, 'versions', '1.33')],
  ['1.35', controlPlaneDir],
  ['1.37', join(controlPlaneDir, 'versions', '1.37')],
]);

/** The minor this run's control plane is built at: KUBERNETES_VERSION, 1.35 by default. */
export function kubernetesMinor(): string {
  const minor = process.env.KUBERNETES_VERSION ?? '1.35';
  if (!controlPlaneModules.has(minor)) {
    throw new TestEnvironmentError(
      `KUBERNETES_VERSION=${minor}: the control plane is built at ${[...controlPlaneModules.keys()].join(', ')} only`,
    );
  }
  return minor;
}

/**
 * The controllers kube-controller-manager runs: all but the cloud ones, which belong to a
 * cloud-controller-manager (the AWS one runs beside it). Since 1.37 kube-controller-manager has
 * none of them, and names it an error to turn off a controller it does not know.
 */
function controllerManagerControllers(): string {
  const minor = Number(kubernetesMinor().split('.')[1]);
  if (minor >= 37) return '*';
  return '*,-service-lb-controller,-node-route-controller,-cloud-node-lifecycle-controller';
}

/** The k8s.io/kubernetes release the control plane is built from (its go.mod says which). */
export function kubernetesRelease(minor = kubernetesMinor()): string {
  const moduleDir = controlPlaneModules.get(minor) ?? controlPlaneDir;
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const release = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\s*$/m.exec(goMod)?.[1];
  if (!release) throw new TestEnvironmentError(`${moduleDir}/go.mod requires no k8s.io/kubernetes`);
  return release;
}

function controlPlaneProgram(): GoProgram {
  const minor = kubernetesMinor();
  const release = kubernetesRelease(minor);
  const moduleDir = controlPlaneModules.get(minor);
  const version = 'k8s.io/component-base/version';
  return {
    name: minor === '1.35' ? 'control-plane' : `control-plane-${minor}`,
    sourceDir: controlPlaneDir,
    ...(moduleDir && moduleDir !== controlPlaneDir ? { moduleDir } : {}),
    binaries: { 'control-plane': '.' },
    // As Kubernetes' own build stamps it: /version and the components' logs name the release.
    ldflags: [
      `-X ${version}.gitVersion=${release}`,
      `-X ${version}.gitMajor=1`,
      `-X ${version}.gitMinor=${minor.split('.')[1]}`,
    ].join(' '),
    coldBuild: 'about 6 minutes',
  };
}

const cloudAgentsProgram = {
  name: 'cloud-agents',
  sourceDir: join(repoRoot, 'test', 'support', 'cloud-agents'),
  binaries: {
    'cloud-agents': '.',
    'csi-attacher': 'github.com/kubernetes-csi/external-attacher/v4/cmd/csi-attacher',
  },
  coldBuild: 'about 4 minutes',
} as const;

/** The EBS CSI driver release the control plane runs (test/support/ebs-csi-driver/go.mod). */
export const ebsCsiDriverVersion = 'v1.44.0';

const ebsCsiDriverProgram = {
  name: 'ebs-csi-driver',
  sourceDir: join(repoRoot, 'test', 'support', 'ebs-csi-driver'),
  binaries: { 'aws-ebs-csi-driver': 'github.com/kubernetes-sigs/aws-ebs-csi-driver/cmd' },
  // What the driver's own Makefile stamps in, so its log names the release it is.
  ldflags: `-X github.com/kubernetes-sigs/aws-ebs-csi-driver/pkg/driver.driverVersion=${ebsCsiDriverVersion}`,
  coldBuild: 'about 8 minutes',
} as const;

/** Builds the control-plane program (apiserver, controller-manager, scheduler) when needed. */
export async function ensureControlPlaneBuilt(): Promise<string> {
  return (await ensureGoProgramBuilt(controlPlaneProgram()))['control-plane'] ?? '';
}

/** Builds the cloud agents, the external-attacher, the EBS CSI driver and the AWS cloud controller when needed. */
export async function ensureCloudAgentsBuilt(): Promise<CloudAgentBinaries> {
  // One after the other: two cold Go builds at once need more memory than 2 cores have beside.
  const paths = await ensureGoProgramBuilt(cloudAgentsProgram);
  const driver = await ensureGoProgramBuilt(ebsCsiDriverProgram);
  const cloudController = await ensureGoProgramBuilt(awsCloudControllerProgram);
  return {
    agents: paths['cloud-agents'] ?? '',
    attacher: paths['csi-attacher'] ?? '',
    ebsCsiDriver: driver['aws-ebs-csi-driver'] ?? '',
    awsCloudController: cloudController['aws-cloud-controller-manager'] ?? '',
  };
}

export interface CloudAgentBinaries {
  readonly agents: string;
  readonly attacher: string;
  readonly ebsCsiDriver: string;
  readonly awsCloudController: string;
}

/** Fake credentials and the Region, for the AWS components of the control plane. */
const awsComponentEnvironment = {
  AWS_REGION: testRegion,
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_EC2_METADATA_DISABLED: 'true',
};

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
        const parsed = JSON.parse(line) as {
          ready?: boolean;
          server: string;
          kubeconfigs: Record<'admin' | 'remediator' | 'cloud-controller-manager', string>;
        };
        return parsed.ready ? parsed : undefined;
      },
      180_000,
    );
    const { admin, remediator, 'cloud-controller-manager': cloudController } = info.kubeconfigs;
    return {
      server: info.server,
      kubeconfigs: { admin, remediator },
      cloudControllerKubeconfig: cloudController,
      dataDir,
      stop,
    };
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
  env?: NodeJS.ProcessEnv,
  settleMs = 2_000,
): Promise<ServerProcess> {
  const process = startProcess({
    name,
    command,
    args,
    logFile: logFile(name),
    ...(env ? { env } : {}),
  });
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
  /** The AWS endpoint of this world: EC2 as it behaves, in front of moto. */
  readonly awsEndpoint: string;
  /** JSON lines: every attach and detach made in EC2, by whomever (`Ec2LogEntry`). */
  readonly ec2Log: string;
  /** The CSI controller's log: what the test that it is the real driver reads. */
  readonly csiControllerLog: string;
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
 * Kubernetes' default), the CSIDriver ebs.csi.aws.com with the external-attacher and the EBS
 * CSI driver's controller (and the same under EKS Auto Mode's name ebs.csi.eks.amazonaws.com),
 * the AWS cloud-controller-manager's node lifecycle and simulated kubelets, with EC2 as it
 * behaves in front of the emulator at `awsEndpoint`. Applies the remediator's RBAC.
 */
export async function startControlPlane(
  binary: string,
  agents: CloudAgentBinaries,
  awsEndpoint: string,
): Promise<RunningControlPlane> {
  const apiserver = await startKubeApiServer(binary, 'control-plane-apiserver');
  const stops: Array<() => Promise<void>> = [apiserver.stop];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const runDir = mkdtempSync(join(ensureDir(join(cacheDir, 'run')), 'csi-'));
    stops.push(async () => rmSync(runDir, { recursive: true, force: true }));
    const ec2Log = join(runDir, 'ec2-attachments.jsonl');
    const ec2 = await startEc2AsItBehaves({ upstream: awsEndpoint, attachmentLog: ec2Log });
    stops.push(ec2.stop);
    const ec2Endpoint = ec2.endpoint;

    const admin = apiserver.kubeconfigs.admin;
    const serviceAccountKey = join(apiserver.dataDir, 'certs', 'service-account.key');
    const controllerManager = await startLongRunning('kube-controller-manager', binary, [
      'controller-manager',
      `--kubeconfig=${admin}`,
      '--leader-elect=false',
      `--controllers=${controllerManagerControllers()}`,
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
    await applyCloudNodeLifecycleSwitch(admin);
    const cloudController = await startLongRunning(
      'aws-cloud-controller-manager',
      agents.awsCloudController,
      awsCloudControllerArgs({
        kubeconfig: apiserver.cloudControllerKubeconfig,
        ec2Endpoint,
        region: testRegion,
        dir: runDir,
      }),
      { ...process.env, ...awsComponentEnvironment },
    );
    stops.push(() => cloudController.stop(2_000));
    await applyObjects(
      admin,
      [ebsCsiAttacher, eksAutoModeEbsAttacher].map((name) => ({
        apiVersion: 'storage.k8s.io/v1',
        kind: 'CSIDriver',
        metadata: { name },
        spec: { attachRequired: true, podInfoOnMount: false },
      })),
    );

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

    const csi = csiController(agents, admin, ec2Endpoint, join(runDir, 'csi.sock'));
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
      awsEndpoint: ec2Endpoint,
      ec2Log,
      csiControllerLog: logFile('ebs-csi-controller'),
      stopCsiController: csi.stop,
      startCsiController: csi.start,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * The real EBS CSI driver in controller mode (as its Helm chart runs it, with batching) behind
 * the real external-attacher, over a unix socket. The driver finds EC2 through
 * `AWS_EC2_ENDPOINT` and needs no instance metadata when `AWS_REGION` is set. A second attacher
 * serves EKS Auto Mode's driver name through a proxy that renames the same driver (a stand-in:
 * Auto Mode's own controller is not public; cloud-agents/csi_driver_name.go).
 */
function csiController(
  binaries: CloudAgentBinaries,
  kubeconfig: string,
  ec2Endpoint: string,
  socket: string,
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
    const driver = startProcess({
      name: 'ebs-csi-controller',
      command: binaries.ebsCsiDriver,
      args: [
        'controller',
        `--endpoint=unix://${socket}`,
        `--kubeconfig=${kubeconfig}`,
        '--batching=true',
        '--v=4',
      ],
      env: { ...process.env, ...awsComponentEnvironment, AWS_EC2_ENDPOINT: ec2Endpoint },
      logFile: logFile('ebs-csi-controller'),
    });
    running.push(driver);
    await waitUntil(
      `the EBS CSI driver's socket ${socket} (log: ${driver.logFile})`,
      async () => {
        if (driver.child.exitCode !== null) {
          throw new TestEnvironmentError(`the EBS CSI driver exited; see ${driver.logFile}`);
        }
        return existsSync(socket);
      },
      30_000,
      100,
    );
    const attacher = (name: string, address: string) =>
      startLongRunning(name, binaries.attacher, [
        `--csi-address=${address}`,
        `--kubeconfig=${kubeconfig}`,
        '--leader-election=false',
        '--v=2',
      ]);
    running.push(await attacher('csi-attacher', socket));
    const autoModeSocket = `${socket}.auto-mode`;
    rmSync(autoModeSocket, { force: true });
    running.push(
      await startLongRunning('eks-auto-mode-csi-proxy', binaries.agents, [
        'csi-driver-name',
        '-listen',
        autoModeSocket,
        '-upstream',
        socket,
        '-name',
        eksAutoModeEbsAttacher,
      ]),
    );
    running.push(await attacher('csi-attacher-eks-auto-mode', autoModeSocket));
  };
  return { start, stop };
}
