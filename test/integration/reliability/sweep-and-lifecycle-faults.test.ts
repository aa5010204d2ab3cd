// The sweep and the lifecycle function under faults injected between them and the real parts:
// as for node-loss, each first attempt ends done with nothing left, or throws a message that
// names the operation and the object; a retry with the faults off finishes; the live bystander
// node is never touched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordedLifecycleActions } from '#support/environment.ts';
import {
  type FaultyEnvironment,
  startFaultyEnvironment,
  throttled,
} from '#support/faulty-environment.ts';
import { functionThrough, lifecycleActionEvent } from '#support/functions-under-test.ts';
import { eventSample } from '#support/samples.ts';

let env: FaultyEnvironment;
beforeAll(async () => {
  env = await startFaultyEnvironment('sweep-faults');
});
afterAll(() => env?.dispose());

/** A stopped instance's Node with two CSI volumes still attached: what a sweep finds stale. */
const staleNode = () => env.deadNodeWithVolumes('stopped');

/** A manual sweep that acts (the sample in events/ is a dry-run). */
const sweep = () => ({ ...eventSample('manual-sweep.json'), dryRun: false });
const hook = 'ebs-volume-remediator';

describe('the sweep under injected faults', { timeout: 120_000 }, () => {
  it('rides out EC2 throttling and a lost detach answer, and frees what is stale', async () => {
    const { volumes } = await staleNode();
    const sweeper = functionThrough('sweep', env.cluster, env.through);

    const first = await env.attempt(sweeper, sweep(), [
      throttled(3, 'DescribeInstances'),
      { awsAction: 'DetachVolume', fault: { kind: 'lost-answer' }, times: 1 },
    ]);

    expect(first).toMatchObject({ ended: 'done', result: { status: 'swept' }, faultsInjected: 4 });
    await env.expectFreed(volumes);
    await env.expectBystanderUntouched();
  });

  it('names the list it could not read, having done nothing; the retry sweeps', async () => {
    const { node, volumes } = await staleNode();
    const sweeper = functionThrough('sweep', env.cluster, env.through);

    const first = await env.attempt(sweeper, sweep(), [
      {
        kubeVerb: 'list',
        path: /\/volumeattachments$/,
        fault: { kind: 'answer', status: 500, code: 'InternalError' },
        times: 100,
      },
    ]);

    expect(first).toMatchObject({
      ended: 'threw',
      message: expect.stringMatching(
        /^listing volumeattachments: Kubernetes API answered 500: InternalError: injected InternalError/,
      ),
    });
    for (const volume of volumes) {
      expect((await env.cluster.volume(volume.volumeId)).attachedTo).toEqual([node.instanceId]);
    }
    const retry = await env.attempt(sweeper, sweep(), []);
    expect(retry).toMatchObject({ ended: 'done', result: { status: 'swept' } });
    await env.expectFreed(volumes);
    await env.expectBystanderUntouched();
  });
});

describe('the sweep under more injected faults', { timeout: 120_000 }, () => {
  it.each([
    [
      'a 429 with Retry-After on the Node list',
      {
        kubeVerb: 'list',
        path: /\/nodes$/,
        fault: {
          kind: 'answer',
          status: 429,
          code: 'TooManyRequests',
          headers: { 'Retry-After': '1' },
        },
        times: 2,
      },
    ],
    [
      'a truncated VolumeAttachment list',
      { kubeVerb: 'list', path: /\/volumeattachments$/, fault: { kind: 'truncated' }, times: 1 },
    ],
    ['a hung Node list', { kubeVerb: 'list', path: /\/nodes$/, fault: { kind: 'hang' }, times: 1 }],
    [
      'a reset DescribeVolumes',
      { awsAction: 'DescribeVolumes', fault: { kind: 'reset' }, times: 2 },
    ],
  ] as const)(
    'ends done or with a named error under %s, and the retry sweeps',
    async (_what, rule) => {
      const { volumes } = await staleNode();
      const sweeper = functionThrough('sweep', env.cluster, env.through);

      const first = await env.attempt(sweeper, sweep(), [rule]);

      expect(first.faultsInjected).toBeGreaterThan(0);
      if (first.ended === 'threw') {
        expect(first.message).toMatch(/^(listing|describing|reading|deleting|detaching)/);
      }
      const retry = await env.attempt(sweeper, sweep(), []);
      expect(retry).toMatchObject({ ended: 'done', result: { status: 'swept' } });
      await env.expectFreed(volumes);
      await env.expectBystanderUntouched();
    },
  );
});

describe('the lifecycle function under injected faults', { timeout: 120_000 }, () => {
  it('names the hook and the instance when Auto Scaling keeps failing the completion; the retry completes it once', async () => {
    const node = await env.cluster.addNode();
    const group = `${env.cluster.name}-faulty`;
    const event = lifecycleActionEvent(node.instanceId, group, hook, crypto.randomUUID());
    const lifecycle = functionThrough('lifecycle', env.cluster, env.through, {
      LIFECYCLE_HOOK_NAMES: hook,
    });

    const first = await env.attempt(lifecycle, event, [
      {
        awsAction: 'CompleteLifecycleAction',
        fault: { kind: 'answer', status: 500, code: 'InternalFailure' },
        times: 100,
      },
    ]);

    expect(first).toMatchObject({
      ended: 'threw',
      message: expect.stringMatching(
        new RegExp(
          `^completing hook ${hook} of ${node.instanceId}: InternalFailure: injected InternalFailure after \\d+ attempts`,
        ),
      ),
    });
    const retry = await env.attempt(lifecycle, event, []);
    expect(retry).toMatchObject({ ended: 'done', result: { lifecycle: { outcome: 'drained' } } });
    const completions = (await recordedLifecycleActions()).filter(
      (call) => call.autoScalingGroupName === group && call.action === 'CompleteLifecycleAction',
    );
    expect(completions).toMatchObject([{ outcome: 'accepted', lifecycleActionResult: 'CONTINUE' }]);
    await env.expectBystanderUntouched();
  });

  it('names the hook when Auto Scaling keeps cutting the hook lookup, then the retry completes it', async () => {
    const node = await env.cluster.addNode();
    const group = `${env.cluster.name}-hung`;
    const event = lifecycleActionEvent(node.instanceId, group, hook, crypto.randomUUID());
    const lifecycle = functionThrough('lifecycle', env.cluster, env.through, {
      LIFECYCLE_HOOK_NAMES: hook,
    });

    const first = await env.attempt(lifecycle, event, [
      { awsAction: 'DescribeLifecycleHooks', fault: { kind: 'reset' }, times: 100 },
    ]);

    expect(first).toMatchObject({
      ended: 'threw',
      message: expect.stringMatching(new RegExp(`^describing hook ${hook} of group ${group}: `)),
    });
    const retry = await env.attempt(lifecycle, event, []);
    expect(retry).toMatchObject({ ended: 'done', result: { lifecycle: { outcome: 'drained' } } });
  });

  it('rides out Auto Scaling throttling of the hook description', async () => {
    const node = await env.cluster.addNode();
    const group = `${env.cluster.name}-throttled`;
    const lifecycle = functionThrough('lifecycle', env.cluster, env.through, {
      LIFECYCLE_HOOK_NAMES: hook,
    });

    const first = await env.attempt(
      lifecycle,
      lifecycleActionEvent(node.instanceId, group, hook, crypto.randomUUID()),
      [
        {
          ...throttled(2, 'DescribeLifecycleHooks'),
          fault: { kind: 'answer', status: 400, code: 'Throttling' },
        },
      ],
    );

    expect(first).toMatchObject({
      ended: 'done',
      result: { lifecycle: { outcome: 'drained' } },
      faultsInjected: 2,
    });
  });
});
