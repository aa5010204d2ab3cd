/**
 * What both kinds of test cluster do to EC2 instances and volumes: the way nodes die in tests.
 * Vitest-free.
 */
import {
  DescribeVolumesCommand,
  type EC2Client,
  StopInstancesCommand,
  TerminateInstancesCommand,
  waitUntilInstanceStopped,
  waitUntilInstanceTerminated,
} from '@aws-sdk/client-ec2';

/** Terminates the instance and waits until EC2 reports it terminated. */
export async function terminateInstance(ec2: EC2Client, instanceId: string): Promise<void> {
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
  await waitUntilInstanceTerminated(
    { client: ec2, maxWaitTime: 30, minDelay: 1 },
    { InstanceIds: [instanceId] },
  );
}

/** Stops the instance (its volumes stay attached) and waits until EC2 reports it stopped. */
export async function stopInstance(ec2: EC2Client, instanceId: string): Promise<void> {
  await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
  await waitUntilInstanceStopped(
    { client: ec2, maxWaitTime: 30, minDelay: 1 },
    { InstanceIds: [instanceId] },
  );
}

/** The volume's state and the instances EC2 says it is attached to. */
export async function volumeState(
  ec2: EC2Client,
  volumeId: string,
): Promise<{ state?: string; attachedTo: string[] }> {
  const described = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
  const volume = described.Volumes?.[0];
  return {
    ...(volume?.State ? { state: volume.State } : {}),
    attachedTo: (volume?.Attachments ?? [])
      .filter((a) => a.State !== 'detached')
      .map((a) => a.InstanceId ?? ''),
  };
}
