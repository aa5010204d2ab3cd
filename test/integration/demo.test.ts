import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '#support/paths.ts';

describe('npm run demo', () => {
  it("brings the terminated node's StatefulSet pod back Running with its volume on another node, finds nothing left to sweep, and exits 0", () => {
    const demo = spawnSync(process.execPath, [join(repoRoot, 'demo/demo.ts')], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 420_000,
    });

    expect(demo.stderr).toBe('');
    expect(demo.status).toBe(0);
    expect(demo.stdout).toMatch(/✓ db-0 Running on ip-[\w.-]+ with vol-\w+ attached/);
    expect(demo.stdout).toMatch(/replacement Running +\d+(\.\d)? s/);
    expect(demo.stdout).toMatch(/Kubernetes alone +/);
    expect(demo.stdout).toMatch(/✓ no fight with the attach\/detach controller/);
    expect(demo.stdout).toMatch(/✓ db-1: untouched on its running node/);
    expect(demo.stdout).toContain('✓ nothing left to do');
    expect(demo.stdout).not.toContain('✗');
  }, 480_000);
});
