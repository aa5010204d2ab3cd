/**
 * The EC2 layer in front of moto (test/support/ec2-as-it-behaves.ts): each rule it adds, seen
 * through the AWS SDK as the remediator and the EBS CSI driver see it. Short timings keep the
 * test quick; the rules are the same at any timing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  EC2Client,
  type Instance,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type Ec2Timings,
  type Ec2Transition,
  type RunningEc2Layer,
  readEc2Log,
  reuseAddressPath,
  startEc2AsItBehaves,
  transitionsPath,
} from '#support/ec2-as-it-behaves/index.ts';
import { awsClientConfigFor, testRegion } from '#support/endpoints.ts';
import { sleep } from '#support/stateful-cluster.ts';

const timings: Ec2Timings = {
  pendingMs: 1_500,
  stoppingMs: 2_000,
  shuttingDownMs: 2_000,
  describeLagMs: 1_000,
  attachingMs: 1_000,
  detachingMs: 2_000,
};

describe('EC2 as it behaves (the layer in front of moto)', () => {
  let layer: RunningEc2Layer;
  let ec2: EC2Client;
  let folder: string;
  let log: string;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'ec2-layer-'));
    log = join(folder, 'attachments.jsonl');
    layer = await startEc2AsItBehaves({
      upstream: inject('motoEndpoint'),
      attachmentLog: log,
      timings,
    });
    ec2 = new EC2Client(awsClientConfigFor(layer.endpoint));
  });
  afterAll(async () => {
    await layer?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  async function launch(zone = `${testRegion}a`): Promise<string> {
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-0123456789abcdef0',
        InstanceType: 'm7g.large',
        MinCount: 1,
        MaxCount: 1,
        Placement: { AvailabilityZone: zone },
      }),
    );
    return run.Instances?.[0]?.InstanceId ?? '';
  }

  async function volumeIn(zone = `${testRegion}a`): Promise<string> {
    return (
      (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: 10 }))).VolumeId ?? ''
    );
  }

  async function describe1(instanceId: string): Promise<Instance> {
    const answer = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = answer.Reservations?.[0]?.Instances?.[0];
    if (!instance) throw new Error(`no instance ${instanceId}`);
    return instance;
  }

  async function attachment(volumeId: string) {
    const answer = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    const volume = answer.Volumes?.[0];
    return {
      state: volume?.State,
      attachments: (volume?.Attachments ?? []).map((a) => `${a.InstanceId}:${a.State}`),
    };
  }

  /** Samples `read` every 100 ms for `ms` and returns the distinct values in order. */
  async function sample<T>(ms: number, read: () => Promise<T>): Promise<T[]> {
    const seen: T[] = [];
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const value = await read();
      if (JSON.stringify(seen.at(-1)) !== JSON.stringify(value)) seen.push(value);
      await sleep(100);
    }
    return seen;
  }

  /**
   * Whether `seen` went through `expected` in order: every state lasting a second or more seen,
   * the first one allowed to be missed (a slow first sample on a busy machine).
   */
  function inOrder<T>(seen: T[], expected: T[]): boolean {
    return (
      JSON.stringify(seen) === JSON.stringify(expected.slice(expected.length - seen.length)) &&
      seen.length >= expected.length - 1
    );
  }

  async function attached(instanceId: string, volumeId: string, device = '/dev/xvdba') {
    await ec2.send(
      new AttachVolumeCommand({ InstanceId: instanceId, VolumeId: volumeId, Device: device }),
    );
    await sleep(timings.attachingMs + 100);
  }

  it('terminates through shutting-down, keeping the volumes attached until terminated, and describes the state a moment late', async () => {
    const instanceId = await launch();
    const volumeId = await volumeIn();
    await attached(instanceId, volumeId);
    const before = await describe1(instanceId);
    expect(before.PrivateDnsName).toMatch(/\.ec2\.internal$/);

    const requestedAt = Date.now();
    const answer = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    expect(answer.TerminatingInstances?.[0]?.CurrentState?.Name).toBe('shutting-down');
    // Eventual consistency: right after the call, DescribeInstances may still say running.
    expect((await describe1(instanceId)).State?.Name).toBe('running');
    await sleep(timings.describeLagMs + 100);
    const shuttingDown = await describe1(instanceId);
    expect(shuttingDown.State?.Name).toBe('shutting-down');
    expect(shuttingDown.StateTransitionReason).toMatch(
      /^User initiated \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$/,
    );
    expect(await attachment(volumeId)).toEqual({
      state: 'in-use',
      attachments: [`${instanceId}:attached`],
    });

    await sleep(requestedAt + timings.shuttingDownMs + timings.describeLagMs + 200 - Date.now());
    const terminated = await describe1(instanceId);
    expect(terminated.State?.Name).toBe('terminated');
    // EC2 keeps no DNS name or address of a terminated instance; moto keeps both.
    expect(terminated.PrivateDnsName ?? '').toBe('');
    expect(terminated.PrivateIpAddress).toBeUndefined();
    expect(terminated.NetworkInterfaces ?? []).toEqual([]);
    // The reason names the time of the request, not of the end.
    const reasonTime = Date.parse(
      (terminated.StateTransitionReason ?? '')
        .replace(/^User initiated \((.*) UTC\)$/, '$1Z')
        .replace(' ', 'T'),
    );
    expect(Math.abs(reasonTime - requestedAt)).toBeLessThan(1_500);
    expect((await attachment(volumeId)).state).toBe('available');

    const transitions = (await (
      await fetch(`${layer.endpoint}${transitionsPath}`)
    ).json()) as Ec2Transition[];
    const mine = transitions.filter((t) => t.instanceId === instanceId);
    expect(mine.map((t) => t.state)).toEqual(['shutting-down', 'terminated']);
    expect((mine[1]?.at ?? 0) - (mine[0]?.at ?? 0)).toBe(timings.shuttingDownMs);
  });

  it('stops through stopping and starts through pending, the volume attached throughout', async () => {
    const instanceId = await launch();
    const volumeId = await volumeIn();
    await attached(instanceId, volumeId);

    const stop = await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    expect(stop.StoppingInstances?.[0]?.CurrentState?.Name).toBe('stopping');
    const states = await sample(timings.stoppingMs + timings.describeLagMs + 400, async () => ({
      instance: (await describe1(instanceId)).State?.Name,
      volume: (await attachment(volumeId)).attachments,
    }));
    expect(
      inOrder(
        states.map((s) => s.instance),
        ['running', 'stopping', 'stopped'],
      ),
    ).toBe(true);
    expect(new Set(states.map((s) => s.volume.join()))).toEqual(
      new Set([`${instanceId}:attached`]),
    );

    const start = await ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
    expect(start.StartingInstances?.[0]?.CurrentState?.Name).toBe('pending');
    const starting = await sample(
      timings.pendingMs + timings.describeLagMs + 400,
      async () => (await describe1(instanceId)).State?.Name,
    );
    expect(inOrder(starting, ['stopped', 'pending', 'running'])).toBe(true);
  });

  it('attaches through attaching and refuses what EC2 refuses: a volume in use, another zone, a terminated instance', async () => {
    const [first, second, elsewhere] = await Promise.all([
      launch(),
      launch(),
      launch(`${testRegion}b`),
    ]);
    const volumeId = await volumeIn();

    await ec2.send(
      new AttachVolumeCommand({ InstanceId: first, VolumeId: volumeId, Device: '/dev/xvdba' }),
    );
    const states = await sample(
      timings.attachingMs + 400,
      async () => (await attachment(volumeId)).attachments,
    );
    expect(states).toEqual([[`${first}:attaching`], [`${first}:attached`]]);

    await expect(
      ec2.send(
        new AttachVolumeCommand({ InstanceId: second, VolumeId: volumeId, Device: '/dev/xvdbb' }),
      ),
    ).rejects.toMatchObject({ name: 'VolumeInUse' });
    await expect(
      ec2.send(
        new AttachVolumeCommand({
          InstanceId: elsewhere,
          VolumeId: await volumeIn(),
          Device: '/dev/xvdba',
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidVolume.ZoneMismatch' });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [second] }));
    await expect(
      ec2.send(
        new AttachVolumeCommand({
          InstanceId: second,
          VolumeId: await volumeIn(),
          Device: '/dev/xvdba',
        }),
      ),
    ).rejects.toMatchObject({ name: 'IncorrectInstanceState' });

    const logged = readEc2Log(log).filter((e) => e.volumeId === volumeId);
    expect(logged).toEqual([
      expect.objectContaining({ action: 'attach', instanceId: first, instanceState: 'running' }),
    ]);
  });

  it('detaches through detaching, the volume still in use meanwhile, and answers IncorrectState for a volume attached nowhere', async () => {
    const [first, second] = await Promise.all([launch(), launch()]);
    const volumeId = await volumeIn();
    await attached(first, volumeId);

    const answer = await ec2.send(
      new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: first }),
    );
    expect(answer.State).toBe('detaching');
    await expect(
      ec2.send(
        new AttachVolumeCommand({ InstanceId: second, VolumeId: volumeId, Device: '/dev/xvdba' }),
      ),
    ).rejects.toMatchObject({ name: 'VolumeInUse' });
    const states = await sample(timings.detachingMs + 400, async () => attachment(volumeId));
    expect(states).toEqual([
      { state: 'in-use', attachments: [`${first}:detaching`] },
      { state: 'available', attachments: [] },
    ]);

    await expect(ec2.send(new DetachVolumeCommand({ VolumeId: volumeId }))).rejects.toMatchObject({
      name: 'IncorrectState',
    });
    await expect(
      ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: first })),
    ).rejects.toMatchObject({ name: 'InvalidAttachment.NotFound' });
    const logged = readEc2Log(log)
      .filter((e) => e.volumeId === volumeId)
      .map((e) => e.action);
    expect(logged).toEqual(['attach', 'detach']);
  });

  it('gives a new instance the private address of a terminated one when asked, as EC2 may', async () => {
    const dead = await launch();
    const { PrivateDnsName: name, PrivateIpAddress: ip } = await describe1(dead);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [dead] }));
    const reuse = (from: string) =>
      fetch(`${layer.endpoint}${reuseAddressPath}`, {
        method: 'POST',
        body: JSON.stringify({ from }),
      });
    // Only once it is terminated: a shutting-down instance still holds its address.
    expect((await reuse(dead)).status).toBe(409);
    await sleep(timings.shuttingDownMs + 100);
    expect((await reuse(dead)).status).toBe(204);

    const newcomer = await launch();
    const described = await describe1(newcomer);
    expect(described).toMatchObject({ PrivateDnsName: name, PrivateIpAddress: ip });
    expect(described.NetworkInterfaces?.[0]).toMatchObject({
      PrivateDnsName: name,
      PrivateIpAddress: ip,
    });
    // The address went to that one instance only.
    expect((await describe1(await launch())).PrivateDnsName).not.toBe(name);
  });

  it('passes every other service through unchanged', async () => {
    const groups = (endpoint: string) =>
      new AutoScalingClient(awsClientConfigFor(endpoint)).send(
        new DescribeAutoScalingGroupsCommand({}),
      );
    const [throughLayer, fromMoto] = await Promise.all([
      groups(layer.endpoint),
      groups(inject('motoEndpoint')),
    ]);
    expect(throughLayer.AutoScalingGroups).toEqual(fromMoto.AutoScalingGroups);
  });
});
