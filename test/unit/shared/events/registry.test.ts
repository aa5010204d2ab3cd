import { describe, expect, it } from 'vitest';
import { loadConfig } from '#functions/shared/config.ts';
import {
  parseLifecycleInput,
  parseNodeLossInput,
  parseSweepInput,
} from '#functions/shared/events/registry.ts';
import { eventSample } from '#support/samples.ts';

const config = loadConfig({ CLUSTER_NAME: 'prod', KUBECONFIG: '/dev/null' });
const ignoreStopped = loadConfig({
  CLUSTER_NAME: 'prod',
  KUBECONFIG: '/dev/null',
  ON_STOPPED: 'ignore',
});
const instanceId = 'i-1234567890abcdef0';

describe('parseNodeLossInput on the real samples in events/', () => {
  const eventTime = new Date('2021-11-11T21:29:54Z');
  it.each([
    [
      'ec2-instance-state-change-terminated.json',
      'instance terminated',
      { diedAt: eventTime, expects: { state: 'terminated', announced: true } },
    ],
    [
      'ec2-instance-state-change-shutting-down.json',
      'instance shutting-down',
      { expects: { state: 'terminated', announced: false } },
    ],
    [
      'ec2-instance-state-change-stopped.json',
      'instance stopped',
      { diedAt: eventTime, expects: { state: 'stopped', announced: true } },
    ],
  ])(
    'remediates on %s (the time of a stop or termination is when the instance died)',
    (file, reason, died) => {
      expect(parseNodeLossInput(eventSample(file), config)).toEqual({
        type: 'remediate',
        kind: 'ec2-instance-state-change',
        instanceIds: [instanceId],
        eventTime,
        ...died,
        reason,
      });
    },
  );

  it('lifts the out-of-service taint when the instance runs again', () => {
    expect(
      parseNodeLossInput(eventSample('ec2-instance-state-change-running.json'), config),
    ).toMatchObject({
      type: 'lift-taint',
      instanceIds: [instanceId],
    });
  });

  it.each(['pending', 'stopping'])('does nothing yet for state %s', (state) => {
    expect(
      parseNodeLossInput(eventSample(`ec2-instance-state-change-${state}.json`), config),
    ).toEqual({
      type: 'skip',
      kind: 'ec2-instance-state-change',
      reason: `instance ${state}: nothing to do yet`,
    });
  });

  it('ignores stopped instances when ON_STOPPED is ignore', () => {
    expect(
      parseNodeLossInput(eventSample('ec2-instance-state-change-stopped.json'), ignoreStopped),
    ).toMatchObject({ type: 'skip', reason: 'instance stopped, and ON_STOPPED is ignore' });
  });

  it('remediates the instance an Auto Scaling group terminated', () => {
    expect(
      parseNodeLossInput(eventSample('autoscaling-instance-terminate-successful.json'), config),
    ).toEqual({
      type: 'remediate',
      kind: 'autoscaling-instance-terminate-successful',
      instanceIds: [instanceId],
      eventTime: new Date('2021-11-11T21:31:02Z'),
      expects: { state: 'terminated', announced: false },
      reason: 'scaled in by Auto Scaling group "eks-workers"',
    });
  });

  it('takes a manual remediate invoke with its dry-run flag', () => {
    expect(parseNodeLossInput(eventSample('manual-remediate.json'), config)).toEqual({
      type: 'remediate',
      kind: 'manual-remediate',
      instanceIds: [instanceId],
      dryRun: true,
      reason: 'manual remediate invoke',
    });
  });
});

describe('parseNodeLossInput on bad input', () => {
  it('skips an EC2 event whose instance id is not one', () => {
    const event = eventSample('ec2-instance-state-change-terminated.json');
    const request = parseNodeLossInput(
      { ...event, detail: { 'instance-id': 'vol-123', state: 'terminated' } },
      config,
    );

    expect(request).toMatchObject({ type: 'skip', kind: 'ec2-instance-state-change' });
    expect(request.type === 'skip' && request.reason).toContain(
      'instance-id must be an EC2 instance id',
    );
  });

  it('skips an unknown EC2 state', () => {
    const event = eventSample('ec2-instance-state-change-terminated.json');

    expect(
      parseNodeLossInput(
        { ...event, detail: { 'instance-id': instanceId, state: 'hibernating' } },
        config,
      ),
    ).toMatchObject({ type: 'skip', kind: 'ec2-instance-state-change' });
  });

  it('skips an unknown action of a manual invoke', () => {
    expect(parseNodeLossInput({ action: 'sweep' }, config)).toEqual({
      type: 'skip',
      kind: 'unknown',
      reason: 'unknown action "sweep": this function accepts "remediate"',
    });
  });

  it('skips an action named after an inherited member, which once passed the input on unparsed', () => {
    // The lifecycle function used to complete this hook, though it is not configured.
    const forged = {
      action: 'constructor',
      type: 'lifecycle',
      lifecycleAction: {
        instanceId,
        autoScalingGroupName: 'eks-workers',
        lifecycleHookName: 'someone-elses-hook',
        lifecycleActionToken: 'token',
      },
    };

    for (const parse of [parseNodeLossInput, parseSweepInput, parseLifecycleInput]) {
      expect(parse(forged, config)).toMatchObject({ type: 'skip', kind: 'unknown' });
    }
  });

  it('repeats at most 64 characters of a 1 MB action in its reason', () => {
    const request = parseNodeLossInput({ action: 'x'.repeat(1_000_000) }, config);

    expect(request.type === 'skip' && request.reason).toBe(
      `unknown action "${'x'.repeat(64)}... (1000000 characters)": this function accepts "remediate"`,
    );
  });

  it('skips a manual invoke without instance ids', () => {
    expect(parseNodeLossInput({ action: 'remediate', instanceIds: [] }, config)).toMatchObject({
      type: 'skip',
      kind: 'manual-remediate',
    });
  });

  it.each([
    ['null', null],
    ['a string', 'terminate i-1234567890abcdef0'],
    ['an array', [1, 2]],
    ['an object of no known shape', { hello: 'world' }],
  ])('skips %s as neither event nor invoke', (_, input) => {
    expect(parseNodeLossInput(input, config)).toMatchObject({ type: 'skip', kind: 'malformed' });
  });
});

describe('parseSweepInput on the real samples in events/', () => {
  it('sweeps on a manual invoke, with its dry-run flag', () => {
    expect(parseSweepInput(eventSample('manual-sweep.json'), config)).toEqual({
      type: 'sweep',
      kind: 'manual-sweep',
      dryRun: true,
      reason: 'manual sweep invoke',
    });
  });

  it('sweeps on the schedule', () => {
    expect(parseSweepInput(eventSample('scheduled-event.json'), config)).toMatchObject({
      type: 'sweep',
      kind: 'schedule',
    });
  });

  it('remediates the instance named by an alarm that entered ALARM (EventBridge)', () => {
    expect(parseSweepInput(eventSample('cloudwatch-alarm-state-change.json'), config)).toEqual({
      type: 'remediate',
      kind: 'cloudwatch-alarm',
      instanceIds: [instanceId],
      eventTime: new Date('2021-11-11T21:32:10Z'),
      reason: `alarm "node-status-check-failed" in ALARM for ${instanceId}`,
    });
  });

  it('sweeps on an alarm without an InstanceId dimension (Lambda alarm action)', () => {
    expect(
      parseSweepInput(eventSample('cloudwatch-alarm-lambda-action.json'), config),
    ).toMatchObject({
      type: 'sweep',
      kind: 'cloudwatch-alarm',
      reason: 'alarm "pods-stuck-multi-attach" in ALARM',
    });
  });

  it('does nothing when an alarm returns to OK', () => {
    const event = eventSample('cloudwatch-alarm-state-change.json');
    const detail = event.detail as Record<string, unknown>;

    expect(
      parseSweepInput({ ...event, detail: { ...detail, state: { value: 'OK' } } }, config),
    ).toMatchObject({
      type: 'skip',
      kind: 'cloudwatch-alarm',
      reason: expect.stringContaining('entered "OK"'),
    });
  });

  it('still takes a manual remediate invoke', () => {
    expect(parseSweepInput(eventSample('manual-remediate.json'), config)).toMatchObject({
      type: 'remediate',
    });
  });
});

describe('parseLifecycleInput on the real sample in events/', () => {
  const withHook = loadConfig({
    CLUSTER_NAME: 'prod',
    KUBECONFIG: '/dev/null',
    LIFECYCLE_HOOK_NAMES: 'ebs-volume-remediator',
  });

  it('waits on the configured hook', () => {
    expect(
      parseLifecycleInput(
        eventSample('autoscaling-instance-terminate-lifecycle-action.json'),
        withHook,
      ),
    ).toMatchObject({
      type: 'lifecycle',
      lifecycleAction: {
        instanceId,
        autoScalingGroupName: 'eks-workers',
        lifecycleHookName: 'ebs-volume-remediator',
        lifecycleActionToken: '87654321-4321-4321-4321-210987654321',
      },
    });
  });

  it('leaves a hook it is not configured for alone', () => {
    expect(
      parseLifecycleInput(
        eventSample('autoscaling-instance-terminate-lifecycle-action.json'),
        config,
      ),
    ).toMatchObject({ type: 'skip', reason: expect.stringContaining('left to its owner') });
  });
});
