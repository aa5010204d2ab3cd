import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { coldStartFiles } from '#scripts/cold-start-files.ts';

describe('the files a cold start loads', () => {
  it('are the entry and its static imports, never a chunk it imports on first use', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cold-start-files-'));
    writeFileSync(join(dir, 'shared.ts'), 'export const shared = () => "shared";');
    writeFileSync(
      join(dir, 'lazy.ts'),
      'import { shared } from "./shared.ts"; export const lazy = () => shared();',
    );
    writeFileSync(
      join(dir, 'entry.ts'),
      'import { shared } from "./shared.ts"; export const run = async () => [shared(), (await import("./lazy.ts")).lazy()];',
    );
    await build({
      entryPoints: { index: join(dir, 'entry.ts') },
      outdir: join(dir, 'out'),
      outExtension: { '.js': '.mjs' },
      splitting: true,
      chunkNames: 'chunks/[name]-[hash]',
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'node',
      logLevel: 'error',
    });

    const files = coldStartFiles(join(dir, 'out', 'index.mjs')).map((file) => basename(file));

    // The module both import is a chunk of its own, loaded with the entry; lazy.ts is not.
    expect(files).toHaveLength(2);
    expect(files[0]).toBe('index.mjs');
    expect(files.some((file) => file.startsWith('lazy-'))).toBe(false);
  });
});
