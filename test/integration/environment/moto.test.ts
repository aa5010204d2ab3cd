import {
  AutoScalingServiceException,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, it } from 'vitest';
import { autoScalingClient, endpoints, recordedLifecycleActions } from '#support/environment.ts';
import { TestCluster } from '#support/fixtures.ts';

describe('the AWS emulator the tests run against', () => {
  const cluster = TestCluster.create('moto', endpoints());
  afterAll(() => cluster.dispose());

  it('shows a volume attached by the fixtures in DescribeVolumes filtered by attachment.instance-id', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);

    const described = await cluster.ec2.send(
      new DescribeVolumesCommand({
        Filters: [{ Name: 'attachment.instance-id', Values: [node.instanceId] }],
      }),
    );

    const attached = described.Volumes?.find((v) => v.VolumeId === volume.volumeId);
    expect(attached?.Attachments?.[0]).toMatchObject({
      InstanceId: node.instanceId,
      State: 'attached',
      Device: volume.device,
    });
  });

  it('records CompleteLifecycleAction and heartbeat calls in the lifecycle stand-in', async () => {
    const autoScaling = autoScalingClient();
    const group = `${cluster.name}-asg`;
    const token = crypto.randomUUID();

    await autoScaling.send(
      new RecordLifecycleActionHeartbeatCommand({
        AutoScalingGroupName: group,
        LifecycleHookName: 'drain',
        LifecycleActionToken: token,
      }),
    );
    await autoScaling.send(
      new CompleteLifecycleActionCommand({
        AutoScalingGroupName: group,
        LifecycleHookName: 'drain',
        LifecycleActionToken: token,
        LifecycleActionResult: 'CONTINUE',
      }),
    );

    const recorded = (await recordedLifecycleActions()).filter(
      (call) => call.autoScalingGroupName === group,
    );
    expect(recorded).toMatchObject([
      { action: 'RecordLifecycleActionHeartbeat', lifecycleActionToken: token },
      {
        action: 'CompleteLifecycleAction',
        lifecycleActionToken: token,
        lifecycleActionResult: 'CONTINUE',
      },
    ]);
  });

  it('rejects a second completion of the same action, as Auto Scaling does', async () => {
    const autoScaling = autoScalingClient();
    const action = {
      AutoScalingGroupName: `${cluster.name}-twice`,
      LifecycleHookName: 'drain',
      LifecycleActionToken: crypto.randomUUID(),
      LifecycleActionResult: 'CONTINUE',
    };
    await autoScaling.send(new CompleteLifecycleActionCommand(action));

    const again = autoScaling.send(new CompleteLifecycleActionCommand(action));

    await expect(again).rejects.toMatchObject({
      name: 'ValidationError',
      message: `No active Lifecycle Action found with token ${action.LifecycleActionToken}`,
    });
  });

  it('rejects a CompleteLifecycleAction without a result, as Auto Scaling does', async () => {
    const call = autoScalingClient().send(
      new CompleteLifecycleActionCommand({
        AutoScalingGroupName: `${cluster.name}-asg`,
        LifecycleHookName: 'drain',
        InstanceId: 'i-0123456789abcdef0',
        LifecycleActionResult: 'MAYBE',
      }),
    );

    await expect(call).rejects.toBeInstanceOf(AutoScalingServiceException);
    await expect(call).rejects.toMatchObject({ name: 'ValidationError' });
  });

  it('forwards every other Auto Scaling call to moto', async () => {
    const described = await autoScalingClient().send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [`${cluster.name}-none`] }),
    );

    expect(described.AutoScalingGroups).toEqual([]);
  });
});
