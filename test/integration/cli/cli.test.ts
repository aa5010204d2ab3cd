import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { awsEnvironment, endpoints, kubeconfigPath } from '#support/environment.ts';
import { TestCluster } from '#support/fixtures.ts';
import { repoRoot } from '#support/paths.ts';

/** Runs the command line as an operator would, with the AWS settings in the environment. */
function cli(args: readonly string[]) {
  const child = spawnSync(
    process.execPath,
    [join(repoRoot, 'bin/ebs-volume-remediator.mjs'), ...args],
    {
      env: { PATH: process.env.PATH, ...awsEnvironment() },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

describe('the ebs-volume-remediator command line', () => {
  const cluster = TestCluster.create('cli', endpoints());
  afterAll(() => cluster.dispose());
  // A one-node cluster whose node dies: past the share-of-dead-Nodes rule unless it is lifted.
  const access = () => [
    '--cluster-name',
    cluster.name,
    '--kubeconfig',
    kubeconfigPath('remediator'),
    '--max-dead-node-percent',
    '100',
  ];

  it('sweeps with --output json, and the JSON parses into the sweep report', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);
    await cluster.terminateInstance(node);

    const run = cli(['sweep', ...access(), '--output', 'json']);

    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({
      status: 'swept',
      sweep: { complete: true, staleInstances: 1, summary: { attachmentsDeleted: 1 } },
    });
    expect(await cluster.volumeAttachmentNames()).not.toContain(volume.volumeAttachmentName);
  });

  it('prints a readable summary for a dry-run remediate, and changes nothing', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);
    await cluster.stopInstance(node);

    const run = cli(['remediate', ...access(), '--instance-id', node.instanceId, '--dry-run']);

    expect(run.status).toBe(0);
    expect(run.stdout).toContain('(dry-run: nothing was changed)');
    expect(run.stdout).toMatch(
      new RegExp(`${node.instanceId}\\s+${node.nodeName}\\s+stopped\\s+dry-run\\s+1\\s+1`),
    );
    expect((await cluster.volume(volume.volumeId)).attachedTo).toEqual([node.instanceId]);
  });

  it('shows with status what a dead instance still holds and the pod stuck behind it, and changes nothing', async () => {
    const dead = await cluster.addNode();
    const claimName = `data-${cluster.name}`;
    const volume = await cluster.addVolume(dead, { claimName });
    const live = await cluster.addNode();
    await cluster.setNodeReady(live, true);
    // The replacement, scheduled on a live node, waits for the volume the dead node holds.
    const replacement = await cluster.addPod(live, `db-${cluster.name}`, { claimName });
    await cluster.terminateInstance(dead);

    const run = cli(['status', ...access()]);

    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('(nothing was changed)');
    expect(run.stdout).toMatch(
      new RegExp(
        `${dead.instanceId}\\s+${dead.nodeName}\\s+terminated\\s+to add\\s+0\\s+1\\s+[01]\\s+a sweep frees it`,
      ),
    );
    expect(run.stdout).toMatch(
      new RegExp(
        `default/${replacement.name}\\s+${live.nodeName}\\s+${claimName}\\s+${dead.nodeName} \\(${dead.instanceId}\\)`,
      ),
    );
    expect(await cluster.volumeAttachmentNames()).toContain(volume.volumeAttachmentName);
    expect(await cluster.taintsOf(dead)).not.toContainEqual(
      expect.objectContaining({ key: 'node.kubernetes.io/out-of-service' }),
    );
  });

  it('reports what fence-check --dry-run would fence, and stops nothing', async () => {
    const [hung, ...live] = await Promise.all([
      cluster.addNode(),
      cluster.addNode(),
      cluster.addNode(),
    ]);
    if (!hung) throw new Error('no node');
    // Its kubelet went silent ten minutes ago; the node lifecycle controller marked it NotReady.
    await cluster.renewLease(hung, new Date(Date.now() - 600_000));
    await cluster.setNodeReady(hung, false);
    for (const node of live) {
      await cluster.renewLease(node);
      await cluster.setNodeReady(node, true);
    }

    const run = cli([
      'fence-check',
      ...access(),
      '--node-selector',
      cluster.labelSelector,
      '--dry-run',
      '--output',
      'json',
    ]);

    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.check.reports).toMatchObject([
      {
        instanceId: hung.instanceId,
        outcome: 'dry-run',
        evidence: { instanceState: 'running' },
        actions: [{ action: 'fence-instance', outcome: 'planned' }],
      },
    ]);
    expect(await cluster.instanceState(hung.instanceId)).toBe('running');
  });

  it('refuses a fence time shorter than a Lease, and exits 2', () => {
    const run = cli(['fence-check', ...access(), '--fence-after', '10']);

    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--fence-after must be at least 40 seconds');
  });

  it('refuses a recovery watch longer than an invocation may wait, and exits 2', () => {
    const run = cli(['sweep', ...access(), '--recovery-watch', '900']);

    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--recovery-watch must be at most 600 seconds');
  });

  it('says what is wrong with a bad flag, and exits 2', () => {
    const run = cli(['sweep', '--cluster', 'x']);

    expect(run.status).toBe(2);
    expect(run.stderr).toContain("Unknown option '--cluster'");
    expect(run.stderr).toContain('Run with --help');
  });

  it('asks for an instance id when remediate has none', () => {
    const run = cli(['remediate', ...access()]);

    expect(run.status).toBe(2);
    expect(run.stderr).toContain('remediate needs at least one --instance-id');
  });

  it('names the unreachable cluster, and exits 1', () => {
    const run = cli([
      'sweep',
      '--cluster-name',
      'x',
      '--kubeconfig',
      join(repoRoot, 'test/support/unreachable.kubeconfig'),
    ]);

    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/the Kubernetes API at https:\/\/127\.0\.0\.1:9 did not answer/);
  });

  it('prints its usage with --help', () => {
    const run = cli(['--help']);

    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^Usage: ebs-volume-remediator <command> \[options\]/);
  });
});
