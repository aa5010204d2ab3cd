/**
 * The real parts started outside vitest, for the demo and the benchmarks: moto, a bare
 * kube-apiserver with the remediator's RBAC applied and, when asked, the full control plane
 * (kube-controller-manager, kube-scheduler, the external-attacher and the EBS CSI driver, the AWS
 * cloud-controller-manager, simulated kubelets, EC2 as it behaves in front of moto) on a second
 * kube-apiserver.
 */
import { join } from 'node:path';
import {
  ensureCloudAgentsBuilt,
  ensureControlPlaneBuilt,
  type RunningControlPlane,
  startControlPlane,
  startKubeApiServer,
} from './control-plane.ts';
import type { Endpoints } from './endpoints.ts';
import { applyManifestFile } from './kube-manifests.ts';
import { ensureMotoServer, startMoto } from './moto.ts';
import { repoRoot } from './paths.ts';

export interface LocalEnvironment extends Endpoints {
  readonly kubeServer: string;
  /** The full control plane, when it was asked for. */
  readonly controlPlane?: RunningControlPlane;
  stop(): Promise<void>;
}

export async function startLocalEnvironment(
  options: { readonly controlPlane?: boolean } = {},
): Promise<LocalEnvironment> {
  const [binary, agents, motoCommand] = await Promise.all([
    ensureControlPlaneBuilt(),
    options.controlPlane ? ensureCloudAgentsBuilt() : undefined,
    ensureMotoServer(),
  ]);
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const stopOne of stops.reverse()) await stopOne().catch(() => undefined);
  };
  try {
    const [kube, moto] = await Promise.allSettled([
      startKubeApiServer(binary),
      startMoto(motoCommand),
    ]);
    if (kube.status === 'fulfilled') stops.push(kube.value.stop);
    if (moto.status === 'fulfilled') stops.push(moto.value.stop);
    if (kube.status === 'rejected') throw kube.reason;
    if (moto.status === 'rejected') throw moto.reason;
    await applyManifestFile(
      kube.value.kubeconfigs.admin,
      join(repoRoot, 'infra/kubernetes/rbac.yaml'),
    );
    const controlPlane = agents
      ? await startControlPlane(binary, agents, moto.value.endpoint)
      : undefined;
    if (controlPlane) stops.push(controlPlane.stop);
    return {
      awsEndpoint: moto.value.endpoint,
      kubeconfigs: kube.value.kubeconfigs,
      kubeServer: kube.value.server,
      ...(controlPlane ? { controlPlane } : {}),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
