// Bundles each Lambda function (functions/<name>/index.ts) into one self-contained, minified
// ESM file, dist/<name>/index.mjs exporting `handler`: the exact file the CDK app deploys. Also
// bundles the command line (cli/main.ts) into dist/cli/main.mjs, which the installed package
// runs (Node.js does not strip types of files under node_modules).
import { mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { requireNodeHttp } from './cjs-node-http.ts';
import { literalSchemaKeys } from './sdk-schema-keys.ts';

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

const bundles = [
  ...names.map((name) => ({
    entry: join(functionsDir, name, 'index.ts'),
    out: `${name}/index.mjs`,
  })),
  { entry: join(root, 'cli', 'main.ts'), out: 'cli/main.mjs' },
];

for (const { entry, out } of bundles) {
  const outfile = join(root, 'dist', out);
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    minify: true,
    // Error class names (ConfigurationError, ...) stay readable in logs.
    keepNames: true,
    // A map beside each bundle, to decode a minified stack trace from the logs by hand. Not
    // deployed (the construct leaves *.map out of the function's code) nor packed: Lambda would
    // not read it without --enable-source-maps, which parses it at every cold start.
    sourcemap: 'external',
    sourcesContent: false,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    mainFields: ['module', 'main'],
    // Some dependencies still call require(); give the ESM bundle one.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    // Lets esbuild drop the AWS SDK schemas of operations never called (sdk-schema-keys.ts), and
    // keeps node:http from loading Node.js's fetch stack at every cold start (cjs-node-http.ts).
    plugins: [literalSchemaKeys, requireNodeHttp],
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
  console.log(`built dist/${out} (${(bytes / 1024).toFixed(0)} KiB)`);
}
