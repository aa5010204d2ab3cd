// Bundles each Lambda function (functions/<name>/index.ts) into a self-contained, minified ESM
// folder: dist/<name>/index.mjs exporting `handler`, and dist/<name>/chunks/ with the code it
// imports only when needed (the tracer, the SDK's credential providers other than the
// environment's), which a cold start then neither loads nor compiles: the folder is what the CDK
// app deploys. Also bundles the command line (cli/main.ts) into dist/cli/main.mjs, which the
// installed package runs (Node.js does not strip types of files under node_modules).
import {
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { build } from 'esbuild';
import { requireNodeHttp } from './cjs-node-http.ts';
import { coldStartBytes } from './cold-start-files.ts';
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
  const outdir = join(root, 'dist', dirname(out));
  const result = await build({
    entryPoints: { [basename(out, '.mjs')]: entry },
    outdir,
    outExtension: { '.js': '.mjs' },
    // Dynamic imports become chunks of their own, loaded on first use.
    splitting: true,
    // Named by content: a new build never overwrites a chunk that a loaded bundle may import.
    chunkNames: 'chunks/[name]-[hash]',
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
  // build runs never sees half a file. Chunks come first, so an entry never names a missing one.
  const chunksDir = join(outdir, 'chunks');
  const isChunk = (path: string) => path.startsWith(chunksDir);
  const files = result.outputFiles;
  for (const file of [
    ...files.filter((f) => isChunk(f.path)),
    ...files.filter((f) => !isChunk(f.path)),
  ]) {
    mkdirSync(dirname(file.path), { recursive: true });
    const partial = `${file.path}.partial-${process.pid}`;
    writeFileSync(partial, file.contents);
    renameSync(partial, file.path);
  }
  // Chunks of earlier builds are imported by nothing now: they would only be deployed.
  const written = new Set(files.map((file) => file.path));
  for (const name of existsSync(chunksDir) ? readdirSync(chunksDir) : []) {
    const path = join(chunksDir, name);
    if (!written.has(path) && !name.includes('.partial-')) rmSync(path);
  }
  const loaded = coldStartBytes(join(root, 'dist', out));
  console.log(`built dist/${out} (${(loaded / 1024).toFixed(0)} KiB loaded at a cold start)`);
}
