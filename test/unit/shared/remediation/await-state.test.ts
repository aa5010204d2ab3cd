import { describe, expect, it } from 'vitest';
import { awaitState } from '#functions/shared/remediation/await-state.ts';
import type { InstanceState } from '#functions/shared/remediation/facts.ts';
import type { Ec2Port } from '#functions/shared/remediation/ports.ts';
import { Ec2LagError } from '#functions/shared/util/errors.ts';

const instanceId = 'i-0123456789abcdef0';
const noSleep = async () => undefined;

/** An EC2 whose DescribeInstances answers these states in turn (the last one from then on). */
function ec2Answering(...states: InstanceState[]) {
  const asked: string[][] = [];
  const ec2: Pick<Ec2Port, 'describeInstances'> = {
    async describeInstances(ids) {
      asked.push([...ids]);
      const state = states[Math.min(asked.length - 1, states.length - 1)] ?? 'running';
      return new Map(
        ids.map((id) => [id, { instanceId: id, state, tags: {}, describedAt: Date.now() }]),
      );
    },
  };
  return { ec2, asked };
}

describe('awaitState', () => {
  it('reads again until EC2 shows the state the event announced (eventual consistency)', async () => {
    const { ec2, asked } = ec2Answering('shutting-down', 'shutting-down', 'terminated');

    const awaited = await awaitState([instanceId], { state: 'terminated', announced: true }, ec2, {
      timeoutMs: 20_000,
      sleep: noSleep,
    });

    expect(awaited.instances.get(instanceId)?.state).toBe('terminated');
    expect(asked).toHaveLength(3);
  });

  it('retries the event, never drops it, when EC2 has not caught up within the budget', async () => {
    const { ec2 } = ec2Answering('running');

    const waiting = awaitState([instanceId], { state: 'terminated', announced: true }, ec2, {
      timeoutMs: 30,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    });

    await expect(waiting).rejects.toThrow(Ec2LagError);
    await expect(waiting).rejects.toThrow(
      /EC2 still reports i-0123456789abcdef0 running .* after the event said terminated: .* retried/,
    );
  });

  it('watches an instance on its way down and says when it got there', async () => {
    const { ec2 } = ec2Answering('shutting-down', 'terminated');
    const before = Date.now();

    const awaited = await awaitState([instanceId], { state: 'terminated', announced: false }, ec2, {
      timeoutMs: 60_000,
      sleep: noSleep,
    });

    expect(awaited.instances.get(instanceId)?.state).toBe('terminated');
    expect(awaited.reachedAt.get(instanceId)).toBeGreaterThanOrEqual(before);
  });

  it('leaves an instance still on its way down when the watch ends, without failing', async () => {
    const { ec2 } = ec2Answering('shutting-down');

    const awaited = await awaitState([instanceId], { state: 'terminated', announced: false }, ec2, {
      timeoutMs: 30,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    });

    expect(awaited.instances.get(instanceId)?.state).toBe('shutting-down');
    expect(awaited.reachedAt.size).toBe(0);
  });

  it.each(['gone', 'terminated'] as const)(
    'takes a terminated instance EC2 already reports %s at the first reading',
    async (state) => {
      const { ec2, asked } = ec2Answering(state);

      await awaitState([instanceId], { state: 'terminated', announced: true }, ec2, {
        timeoutMs: 20_000,
        sleep: noSleep,
      });

      expect(asked).toHaveLength(1);
    },
  );

  it('reads again a running event that EC2 still shows pending', async () => {
    const { ec2 } = ec2Answering('pending', 'running');

    const awaited = await awaitState([instanceId], { state: 'running', announced: true }, ec2, {
      timeoutMs: 20_000,
      sleep: noSleep,
    });

    expect(awaited.instances.get(instanceId)?.state).toBe('running');
  });
});
