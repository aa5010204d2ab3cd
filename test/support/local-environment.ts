/**
 * The real parts started outside vitest, for the demo and the benchmarks: one kube-apiserver
 * (built when needed) with the remediator's RBAC applied, and one moto server.
 */
import { join } from 'node:path';
import type { Endpoints } from './endpoints.ts';
import { ensureKubeApiServerBuilt, startKubeApiServer } from './kube-apiserver.ts';
import { applyManifestFile } from './kube-manifests.ts';
import { ensureMotoServer, startMoto } from './moto.ts';
import { repoRoot } from './paths.ts';

export interface LocalEnvironment extends Endpoints {
  readonly kubeServer: string;
  stop(): Promise<void>;
}

export async function startLocalEnvironment(): Promise<LocalEnvironment> {
  const [binary, motoCommand] = await Promise.all([ensureKubeApiServerBuilt(), ensureMotoServer()]);
  const [kube, moto] = await Promise.allSettled([
    startKubeApiServer(binary),
    startMoto(motoCommand),
  ]);
  const stop = async () => {
    for (const started of [kube, moto]) {
      if (started.status === 'fulfilled') await started.value.stop().catch(() => undefined);
    }
  };
  if (kube.status === 'rejected' || moto.status === 'rejected') {
    await stop();
    throw kube.status === 'rejected' ? kube.reason : (moto as PromiseRejectedResult).reason;
  }
  await applyManifestFile(
    kube.value.kubeconfigs.admin,
    join(repoRoot, 'infra/kubernetes/rbac.yaml'),
  );
  return {
    awsEndpoint: moto.value.endpoint,
    kubeconfigs: kube.value.kubeconfigs,
    kubeServer: kube.value.server,
    stop,
  };
}
