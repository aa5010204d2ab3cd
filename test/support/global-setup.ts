/**
 * Vitest global setup of the integration project: builds (when needed) and starts one real
 * kube-apiserver and one moto server (behind the lifecycle stand-in) for the whole run, hands
 * their addresses to the tests, and stops them at the end, also when tests fail.
 *
 * A part that cannot start fails the run with a message that says what to install; the
 * integration tests are never skipped silently.
 */
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  ensureKubeApiServerBuilt,
  type KubeApiServerInfo,
  startKubeApiServer,
} from './kube-apiserver.ts';
import { applyManifestFile } from './kube-manifests.ts';
import { startLifecycleStandIn } from './lifecycle-stand-in.ts';
import { ensureMotoServer, startMoto } from './moto.ts';
import { repoRoot } from './paths.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kube: KubeApiServerInfo;
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
    // Prepare both before starting either, so the long first build does not leave moto idle.
    const [binary, motoCommand] = await Promise.all([
      ensureKubeApiServerBuilt(),
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

    project.provide('kube', { server: kube.server, kubeconfigs: kube.kubeconfigs });
    project.provide('awsEndpoint', standIn.endpoint);
    project.provide('motoEndpoint', moto.endpoint);
    return teardown;
  } catch (error) {
    await teardown();
    throw error;
  }
}
