/**
 * Vitest global setup of the integration project: builds (when needed) and starts, for the whole
 * run, one moto server (behind the lifecycle stand-in) and two Kubernetes environments:
 * - `kube`: a bare kube-apiserver, for tests of the remediator's own actions, where a controller
 *   acting on the same objects would hide what is asserted (a finalizer no attacher removes, a
 *   VolumeAttachment as the attacher left it);
 * - `controlPlane`: a kube-apiserver with kube-controller-manager, kube-scheduler, the CSI
 *   external-attacher, simulated kubelets and the cloud node lifecycle, for tests of the outcome
 *   Kubernetes' controllers decide (the replacement pod Running with its volume).
 * It hands their addresses to the tests and stops them at the end, also when tests fail.
 *
 * A part that cannot start fails the run with a message that says what to install; the
 * integration tests are never skipped silently.
 */
import { join } from 'node:path';
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
import { repoRoot } from './paths.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kube: KubeApiServerInfo;
    controlPlane: ControlPlaneInfo;
    /** The AWS endpoint tests use: the lifecycle stand-in, which forwards to moto. */
    awsEndpoint: string;
    /** moto itself, for the rare test that must bypass the stand-in. */
    motoEndpoint: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
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
    const controlPlane = await startControlPlane(binary, agents, moto.endpoint);
    stops.push(controlPlane.stop);

    project.provide('kube', { server: kube.server, kubeconfigs: kube.kubeconfigs });
    project.provide('controlPlane', {
      server: controlPlane.server,
      kubeconfigs: controlPlane.kubeconfigs,
      ec2Log: controlPlane.ec2Log,
    });
    project.provide('awsEndpoint', standIn.endpoint);
    project.provide('motoEndpoint', moto.endpoint);
    return teardown;
  } catch (error) {
    await teardown();
    throw error;
  }
}
