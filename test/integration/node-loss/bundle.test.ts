import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invokeBundle } from '#support/bundle-process.ts';
import { awsEnvironment, endpoints } from '#support/environment.ts';
import { TestCluster } from '#support/fixtures.ts';
import { ec2StateChangeEvent, testSettings } from '#support/functions-under-test.ts';
import { repoRoot } from '#support/paths.ts';
import { run } from '#support/processes.ts';

/** Invokes the built node-loss bundle in a fresh Node.js process, with the emulators' settings. */
function invokeNodeLoss(event: unknown, env: Record<string, string>) {
  return {
    nodeVersion: process.version,
    ...invokeBundle('node-loss', event, { ...awsEnvironment(), ...env }),
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

    const invocation = invokeNodeLoss(
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

    const invocation = invokeNodeLoss(
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
