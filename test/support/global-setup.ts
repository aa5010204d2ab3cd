/**
 * Vitest global setup of the integration project: builds (when needed) and starts, for the whole
 * run, one moto server (behind the lifecycle stand-in) and two Kubernetes environments:
 * - `kube`: a bare kube-apiserver, for tests of the remediator's own actions, where a controller
 *   acting on the same objects would hide what is asserted (a finalizer no attacher removes, a
 *   VolumeAttachment as the attacher left it);
 * - `controlPlane`: a kube-apiserver with kube-controller-manager, kube-scheduler, the CSI
 *   external-attacher and the EBS CSI driver, simulated kubelets and the cloud node lifecycle, on
 *   EC2 as it behaves (a layer in front of moto), for tests of the outcome Kubernetes'
 *   controllers decide (the replacement pod Running with its volume).
 * It hands their addresses to the tests and stops them at the end, also when tests fail.
 *
 * A part that cannot start fails the run with a message that says what to install; the
 * integration tests are never skipped silently.
 *
 * Two projects name this setup: `integration` and `outage` (tests that take a part down, run
 * apart from all others). Vitest calls it once per project at the start of the run, in one process:
 * the first call starts the environment, the second shares it, and the last teardown stops it.
 */
import { join } from 'node:path';
import type { ProvidedContext } from 'vitest';
import type { TestProject } from 'vitest/node';
import {
  type ControlPlaneInfo,
  ensureCloudAgentsBuilt,
  ensureControlPlaneBuilt,
  type KubeApiServerInfo,
  startControlPlane,
  startKubeApiServer,
} from './control-plane.ts';
import { applyManifestFile } from './kube-manifests.ts';
import { startLifecycleStandIn } from './lifecycle-stand-in.ts';
import { ensureMotoServer, startMoto } from './moto.ts';
import { startOutageSwitch } from './outage-switch.ts';
import { repoRoot } from './paths.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kube: KubeApiServerInfo;
    controlPlane: ControlPlaneInfo;
    /** The AWS endpoint tests use: the lifecycle stand-in, which forwards to moto. */
    awsEndpoint: string;
    /** moto itself, for the rare test that must bypass the stand-in. */
    motoEndpoint: string;
    /** Takes the control plane's CSI controller down and back (outage-switch.ts). */
    outageSwitch: string;
  }
}

interface Environment {
  readonly provided: { [K in keyof ProvidedContext]: ProvidedContext[K] };
  readonly stop: () => Promise<void>;
}

/** Shared by the projects' calls: they run in one process, each with its own module instance. */
const shared = globalThis as {
  ebsRemediatorTestEnvironment?: Promise<Environment>;
  ebsRemediatorTestUsers?: number;
};

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  shared.ebsRemediatorTestEnvironment ??= startEnvironment();
  shared.ebsRemediatorTestUsers = (shared.ebsRemediatorTestUsers ?? 0) + 1;
  const environment = await shared.ebsRemediatorTestEnvironment;
  for (const [key, value] of Object.entries(environment.provided)) {
    project.provide(key as keyof ProvidedContext, value as never);
  }
  return async () => {
    shared.ebsRemediatorTestUsers = (shared.ebsRemediatorTestUsers ?? 1) - 1;
    if (shared.ebsRemediatorTestUsers === 0) await environment.stop();
  };
}

async function startEnvironment(): Promise<Environment> {
  const stops: Array<() => Promise<void>> = [];
  const teardown = async () => {
    // Stop in reverse order; one failing stop must not leave the others running.
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    // Prepare everything before starting anything, so the long first build leaves no server idle.
    const [binary, agents, motoCommand] = await Promise.all([
      ensureControlPlaneBuilt(),
      ensureCloudAgentsBuilt(),
      ensureMotoServer(),
    ]);
    const [kubeStart, motoStart] = await Promise.allSettled([
      startKubeApiServer(binary),
      startMoto(motoCommand),
    ]);
    if (kubeStart.status === 'fulfilled') stops.push(kubeStart.value.stop);
    if (motoStart.status === 'fulfilled') stops.push(motoStart.value.stop);
    if (kubeStart.status === 'rejected') throw kubeStart.reason;
    if (motoStart.status === 'rejected') throw motoStart.reason;
    const kube = kubeStart.value;
    const moto = motoStart.value;
    // Tests act as the remediator through the same RBAC manifest users apply.
    await applyManifestFile(
      kube.kubeconfigs.admin,
      join(repoRoot, 'infra', 'kubernetes', 'rbac.yaml'),
    );
    const standIn = await startLifecycleStandIn(moto.endpoint);
    stops.push(standIn.stop);
    // The control plane's world: EC2 as it behaves, in front of the stand-in and moto.
    const controlPlane = await startControlPlane(binary, agents, standIn.endpoint);
    stops.push(controlPlane.stop);
    const outageSwitch = await startOutageSwitch(controlPlane);
    stops.push(outageSwitch.stop);

    return {
      provided: {
        kube: { server: kube.server, kubeconfigs: kube.kubeconfigs },
        controlPlane: {
          server: controlPlane.server,
          kubeconfigs: controlPlane.kubeconfigs,
          awsEndpoint: controlPlane.awsEndpoint,
          ec2Log: controlPlane.ec2Log,
          csiControllerLog: controlPlane.csiControllerLog,
        },
        awsEndpoint: standIn.endpoint,
        motoEndpoint: moto.endpoint,
        outageSwitch: outageSwitch.endpoint,
      },
      stop: teardown,
    };
  } catch (error) {
    await teardown();
    throw error;
  }
}
