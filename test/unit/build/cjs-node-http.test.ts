import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { requireNodeHttp } from '#scripts/cjs-node-http.ts';

/**
 * Bundles a module that uses node:http and node:https as the SDK and the functions do, runs it in
 * a fresh Node.js, and says what it saw and whether Node.js loaded its internal undici.
 */
async function runBundled(plugins: Plugin[]) {
  const dir = mkdtempSync(join(tmpdir(), 'cjs-node-http-'));
  writeFileSync(
    join(dir, 'entry.ts'),
    [
      "import https from 'node:https';",
      "import { Agent, request } from 'node:http';",
      'const undici = process.moduleLoadList.some((m) => m.includes("undici"));',
      'console.log(JSON.stringify({ agent: typeof https.Agent, httpAgent: typeof Agent, request: typeof request, undici }));',
    ].join('\n'),
  );
  await build({
    entryPoints: [join(dir, 'entry.ts')],
    outfile: join(dir, 'out.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    plugins,
    logLevel: 'error',
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
  const run = spawnSync(process.execPath, [join(dir, 'out.mjs')], { encoding: 'utf8' });
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

describe('node:http and node:https required, not imported', () => {
  it('keep what the bundle uses, without loading Node.js’s fetch stack', async () => {
    expect(await runBundled([requireNodeHttp])).toEqual({
      agent: 'function',
      httpAgent: 'function',
      request: 'function',
      undici: false,
    });
  });

  it('imported as modules, load it (what the plugin saves)', async () => {
    expect(await runBundled([])).toMatchObject({ undici: true });
  });
});
