/** Where the function bundles the construct deploys are, in the repository and in the package. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The folder of the package (or the repository): the nearest one above this file (infra/ in the
 * repository, lib/infra/ in the installed package) with a package.json that names a package;
 * lib/'s own package.json only says its files are CommonJS.
 */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json with a name above ${from}`);
  }
}

/**
 * Where `npm run build` writes the function bundles the construct deploys; the package carries
 * them. The construct the package ships is CommonJS (jsii compiles it so), where `__dirname` is
 * this file's folder; vitest gives it to the sources too. Run as an ES module straight from the
 * sources (`node infra/app.ts`), there is no `__dirname`, and the app names the folder itself.
 */
export function defaultBundleDir(): string {
  if (typeof __dirname === 'undefined') {
    throw new Error('the construct runs from its ES module sources: give it bundleDir');
  }
  return join(packageRoot(__dirname), 'dist');
}

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
