import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsEnvironment, endpoints } from '../../support/environment.ts';
import { TestCluster } from '../../support/fixtures.ts';
import { ec2StateChangeEvent, testSettings } from '../../support/functions-under-test.ts';
import { repoRoot } from '../../support/paths.ts';
import { run } from '../../support/processes.ts';

const bundle = join(repoRoot, 'dist', 'node-loss', 'index.mjs');

/** Invokes the built bundle in a fresh Node.js process, as Lambda would. */
function invokeBundle(event: unknown, env: Record<string, string>) {
  const child = spawnSync(
    process.execPath,
    [join(repoRoot, 'test/support/invoke-bundle.ts'), bundle],
    {
      input: JSON.stringify(event),
      env: { PATH: process.env.PATH, ...awsEnvironment(), ...env },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  const lines = child.stdout.split('\n').filter(Boolean);
  const last = lines.at(-1) ?? '';
  return {
    nodeVersion: process.version,
    lines: lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return { raw: line };
      }
    }),
    result: last.startsWith('RESULT ') ? JSON.parse(last.slice(7)) : undefined,
    error: last.startsWith('ERROR ') ? JSON.parse(last.slice(6)) : undefined,
    stderr: child.stderr,
  };
}

describe('the built node-loss bundle (dist/node-loss/index.mjs)', () => {
  const cluster = TestCluster.create('bundle', endpoints());
  beforeAll(async () => {
    await run(process.execPath, [join(repoRoot, 'scripts/build.ts')], { cwd: repoRoot });
  });
  afterAll(() => cluster.dispose());

  it('remediates a terminated instance in a fresh Node.js 24 process, with a log line per action and EMF metrics', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);
    await cluster.terminateInstance(node);

    const invocation = invokeBundle(
      ec2StateChangeEvent(node.instanceId, 'terminated'),
      testSettings(cluster),
    );

    expect(invocation.nodeVersion).toMatch(/^v24\./);
    expect(invocation.error).toBeUndefined();
    expect(invocation.result).toMatchObject({
      status: 'done',
      instances: [{ outcome: 'remediated' }],
    });
    expect(await cluster.volumeAttachmentNames()).not.toContain(volume.volumeAttachmentName);
    expect(invocation.lines).toContainEqual(
      expect.objectContaining({
        message: 'action',
        action: 'delete-volumeattachment',
        volumeAttachment: volume.volumeAttachmentName,
        instanceId: node.instanceId,
        outcome: 'done',
      }),
    );
    const metrics = invocation.lines.filter((line) => '_aws' in line);
    expect(metrics).toContainEqual(expect.objectContaining({ AttachmentsDeleted: 1 }));
    expect(metrics).toContainEqual(
      expect.objectContaining({ RemediationLatency: expect.any(Number) }),
    );
  });

  it('refuses to start without CLUSTER_NAME, and says which setting is missing', () => {
    const { CLUSTER_NAME: _, ...settings } = testSettings(cluster);

    const invocation = invokeBundle(
      ec2StateChangeEvent('i-0123456789abcdef0', 'terminated'),
      settings,
    );

    expect(invocation.result).toBeUndefined();
    // Node prints the throwing source line too: in a minified bundle, one very long line.
    const reported = invocation.stderr
      .split('\n')
      .find((line) => line.length < 1000 && line.includes('invalid configuration'));
    expect(reported).toMatch(
      /ConfigurationError\]?: invalid configuration: CLUSTER_NAME is required/,
    );
  });
});
