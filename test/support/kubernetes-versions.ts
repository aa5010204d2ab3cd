/**
 * The recovery tests on the other Kubernetes minors the control plane is built at (CI runs 1.35,
 * and these would take it past its 30 minutes): `npm run test:kubernetes-versions`, or name the
 * minors (`npm run test:kubernetes-versions -- 1.33`). Each minor builds its own control plane
 * from its modules (test/support/control-plane/versions/), about 6 minutes cold, and runs the
 * control plane's recovery scenarios and real-parts checks against it. Exits 1 if any failed.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.ts';

const files = [
  'test/integration/control-plane/real-parts.test.ts',
  'test/integration/control-plane/recovery.test.ts',
];
const minors = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['1.33', '1.37'];

function runTests(minor: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const vitest = join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs');
    const child = spawn(process.execPath, [vitest, 'run', '--project', 'integration', ...files], {
      cwd: repoRoot,
      env: { ...process.env, KUBERNETES_VERSION: minor },
      stdio: 'inherit',
    });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

const results: Array<{ minor: string; passed: boolean; minutes: string }> = [];
for (const minor of minors) {
  process.stdout.write(`\n== Kubernetes ${minor}: ${files.join(', ')}\n`);
  const started = Date.now();
  const code = await runTests(minor);
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  results.push({ minor, passed: code === 0, minutes });
}
process.stdout.write('\nKubernetes  recovery tests  minutes\n');
for (const { minor, passed, minutes } of results) {
  process.stdout.write(
    `${minor.padEnd(12)}${(passed ? 'passed' : 'FAILED').padEnd(15)}${minutes}\n`,
  );
}
process.exitCode = results.every((r) => r.passed) ? 0 : 1;
