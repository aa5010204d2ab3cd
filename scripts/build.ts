// Bundles each Lambda function (functions/<name>/index.ts) into one self-contained, minified
// ESM file, dist/<name>/index.mjs exporting `handler`: the exact file the CDK app deploys.
import { mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const functionsDir = join(root, 'functions');

const names = readdirSync(functionsDir).filter((name) => {
  const entry = join(functionsDir, name, 'index.ts');
  try {
    return statSync(entry).isFile();
  } catch {
    return false;
  }
});

for (const name of names) {
  const outfile = join(root, 'dist', name, 'index.mjs');
  const result = await build({
    entryPoints: [join(functionsDir, name, 'index.ts')],
    outfile,
    bundle: true,
    minify: true,
    // Error class names (ConfigurationError, ...) stay readable in logs.
    keepNames: true,
    sourcemap: 'linked',
    platform: 'node',
    target: 'node24',
    format: 'esm',
    mainFields: ['module', 'main'],
    // Some dependencies still call require(); give the ESM bundle one.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    metafile: true,
    logLevel: 'warning',
    write: false,
  });
  // Written aside, then renamed into place: a test or a demo reading the bundle while another
  // build runs never sees half a file.
  for (const file of result.outputFiles) {
    mkdirSync(dirname(file.path), { recursive: true });
    const partial = `${file.path}.partial-${process.pid}`;
    writeFileSync(partial, file.contents);
    renameSync(partial, file.path);
  }
  const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
  console.log(`built dist/${name}/index.mjs (${(bytes / 1024).toFixed(0)} KiB)`);
}
