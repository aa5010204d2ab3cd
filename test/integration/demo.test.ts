import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.ts';

describe('npm run demo', () => {
  it("frees the terminated node's volumes, finds nothing left to sweep, and exits 0", () => {
    const demo = spawnSync(process.execPath, [join(repoRoot, 'scripts/demo.ts')], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 240_000,
    });

    expect(demo.stderr).toBe('');
    expect(demo.status).toBe(0);
    expect(demo.stdout).toMatch(/✓ data-web-0: VolumeAttachment gone, vol-\w+ available/);
    expect(demo.stdout).toMatch(/✓ logs-web-0: VolumeAttachment gone, vol-\w+ available/);
    expect(demo.stdout).toMatch(/✓ data-web-1: untouched on its running node/);
    expect(demo.stdout).toContain('✓ nothing left to do');
    expect(demo.stdout).not.toContain('✗');
  }, 300_000);
});
