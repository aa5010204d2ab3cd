/** Where the function bundles the construct deploys are, in the repository and in the package. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The folder of the package (or the repository): the nearest one with a package.json above
 * this file, which is infra/ in the repository and lib/infra/ in the installed package.
 */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** Where `npm run build` writes the function bundles the construct deploys; the package carries them. */
export const defaultBundleDir = join(packageRoot(import.meta.dirname), 'dist');

/** Throws, saying what to run, unless every bundle named is built. */
export function requireBundles(bundleDir: string, names: readonly string[]): void {
  for (const name of names) {
    if (!existsSync(join(bundleDir, name, 'index.mjs'))) {
      throw new Error(
        `no bundle at ${join(bundleDir, name)}/index.mjs: run \`npm run build\` first`,
      );
    }
  }
}
