import { describe, expect, it } from 'vitest';
import type { LifecycleAction } from '#functions/shared/events/types.ts';
import { awaitDrainAndComplete } from '#functions/shared/lifecycle/await-drain.ts';
import type { InstanceState } from '#functions/shared/remediation/facts.ts';
import { fakeAutoScaling } from '#support/fakes/fake-autoscaling.ts';
import { fakeEc2 } from '#support/fakes/fake-ec2.ts';
import { fakeKubernetes } from '#support/fakes/fake-kubernetes.ts';

const action: LifecycleAction = {
  instanceId: 'i-0123456789abcdef0',
  autoScalingGroupName: 'nodes',
  lifecycleHookName: 'drain',
  lifecycleActionToken: 'token',
};

/** A node whose VolumeAttachment never goes away, on a clock that sleeping moves forward. */
function world(state: InstanceState, hookTimeoutSeconds: number | undefined) {
  let clock = 0;
  const calls: Array<{ call: string; at: number }> = [];
  const autoScaling = fakeAutoScaling({ hookTimeoutSeconds });
  // What Auto Scaling was sent, and when: heartbeats and the completion.
  autoScaling.log.listen(({ method }) => {
    if (method === 'recordHeartbeat') calls.push({ call: 'heartbeat', at: clock });
    if (method === 'complete') calls.push({ call: 'complete', at: clock });
  });
  const kube = fakeKubernetes({
    attachments: [
      {
        name: 'va-stuck',
        attacher: 'ebs.csi.aws.com',
        nodeName: 'node-a',
        nodeIdAnnotation: action.instanceId,
        deleting: false,
        finalizers: [],
      },
    ],
  });
  const ec2 = fakeEc2({ instances: [{ instanceId: action.instanceId, state, tags: {} }] });
  const deps = {
    kube,
    autoScaling,
    ec2,
    now: () => clock,
    sleep: async (ms: number) => {
      clock += ms;
    },
  };
  return { deps, calls };
}

describe('awaitDrainAndComplete', () => {
  it.each(['terminated', 'gone'] as const)(
    'completes at once for an instance EC2 reports %s: nothing is left to drain',
    async (state) => {
      const { deps, calls } = world(state, 300);

      const report = await awaitDrainAndComplete(action, deps, {
        waitBudgetMs: 600_000,
        heartbeatIntervalMs: 60_000,
      });

      expect(report.outcome).toBe('instance-gone');
      expect(calls).toEqual([{ call: 'complete', at: 0 }]);
    },
  );

  it("sends heartbeats within the hook's own timeout when it is shorter than configured", async () => {
    const { deps, calls } = world('running', 30);

    await awaitDrainAndComplete(action, deps, {
      waitBudgetMs: 60_000,
      heartbeatIntervalMs: 60_000,
    });

    const heartbeats = calls.filter((c) => c.call === 'heartbeat').map((c) => c.at);
    expect(heartbeats).toEqual([0, 15_000, 30_000, 45_000]);
  });

  it('keeps the configured interval when Auto Scaling does not know the hook', async () => {
    const { deps, calls } = world('running', undefined);

    await awaitDrainAndComplete(action, deps, {
      waitBudgetMs: 60_000,
      heartbeatIntervalMs: 20_000,
    });

    const heartbeats = calls.filter((c) => c.call === 'heartbeat').map((c) => c.at);
    expect(heartbeats).toEqual([0, 20_000, 40_000]);
  });
});

describe('awaitDrainAndComplete in dry-run', () => {
  it.each(['running', 'terminated'] as const)(
    'sends Auto Scaling nothing for an instance %s: no heartbeat, no completion, and says what it would wait for',
    async (state) => {
      const { deps, calls } = world(state, 300);

      const report = await awaitDrainAndComplete(action, deps, {
        waitBudgetMs: 600_000,
        heartbeatIntervalMs: 60_000,
        dryRun: true,
      });

      expect(calls).toEqual([]);
      expect(report).toMatchObject({
        outcome: 'dry-run',
        dryRun: true,
        heartbeats: 0,
        attachmentsLeft: state === 'running' ? ['va-stuck'] : [],
      });
    },
  );
});
