import { readFileSync } from 'node:fs';
import {
  ApiException,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadAllYaml,
} from '@kubernetes/client-node';

/** Creates every object of a YAML manifest, replacing those that exist (like `kubectl apply`). */
export async function applyManifestFile(
  kubeconfigPath: string,
  manifestPath: string,
): Promise<void> {
  await applyObjects(
    kubeconfigPath,
    loadAllYaml(readFileSync(manifestPath, 'utf8')) as Array<
      KubernetesObject & Record<string, unknown>
    >,
  );
}

/** Creates every object, replacing those that exist (like `kubectl apply`). */
export async function applyObjects(
  kubeconfigPath: string,
  objects: ReadonlyArray<KubernetesObject & Record<string, unknown>>,
): Promise<void> {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  const client = KubernetesObjectApi.makeApiClient(config);
  for (const object of objects) {
    try {
      await client.create(object);
    } catch (error) {
      if (!(error instanceof ApiException) || error.code !== 409) throw error;
      await client.replace(object);
    }
  }
}
