import {
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  type Filter,
  type Instance,
  type Tag,
  type Volume,
} from '@aws-sdk/client-ec2';
import { createLimiter } from '../concurrency.ts';
import { RemediationError } from '../errors.ts';
import type { InstanceFacts, InstanceState, VolumeFacts } from '../remediation/facts.ts';
import type { Ec2Port } from '../remediation/ports.ts';

/**
 * DetachVolume calls in flight at once. EC2 allows mutating calls a burst of 50 and 5 a second
 * after that, per account and Region; a sweep of many dead nodes must not spend it all at once.
 */
const maxDetachesInFlight = 10;

/** EC2 takes at most 200 values in one filter. */
const maxFilterValues = 200;

/** EC2 error codes that mean "that volume is not attached to that instance (any more)". */
const alreadyDetachedCodes = new Set([
  'IncorrectState',
  'InvalidAttachment.NotFound',
  'InvalidVolume.NotFound',
]);

const knownStates = new Set<string>([
  'pending',
  'running',
  'stopping',
  'stopped',
  'shutting-down',
  'terminated',
]);

function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}

function tagMap(tags: readonly Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
}

function instanceFacts(instance: Instance): InstanceFacts | undefined {
  if (!instance.InstanceId) return undefined;
  const state = instance.State?.Name ?? '';
  return {
    instanceId: instance.InstanceId,
    // An unknown state is treated as running: the one state in which nothing is touched.
    state: (knownStates.has(state) ? state : 'running') as InstanceState,
    ...(instance.PrivateDnsName ? { privateDnsName: instance.PrivateDnsName } : {}),
    ...(instance.RootDeviceName ? { rootDeviceName: instance.RootDeviceName } : {}),
    tags: tagMap(instance.Tags),
  };
}

function volumeFacts(volume: Volume): VolumeFacts | undefined {
  if (!volume.VolumeId) return undefined;
  return {
    volumeId: volume.VolumeId,
    tags: tagMap(volume.Tags),
    attachments: (volume.Attachments ?? []).map((attachment) => ({
      instanceId: attachment.InstanceId ?? '',
      device: attachment.Device ?? '',
      state: attachment.State ?? '',
    })),
  };
}

/** The Ec2Port over the AWS SDK, batching by filter (never one call per instance). */
export function createEc2Port(client: EC2Client): Ec2Port {
  const detachLimit = createLimiter(maxDetachesInFlight);
  async function describeVolumesBy(filterName: string, values: readonly string[]) {
    const volumes: VolumeFacts[] = [];
    for (const batch of chunks([...new Set(values)], maxFilterValues)) {
      const filters: Filter[] = [{ Name: filterName, Values: batch }];
      let nextToken: string | undefined;
      do {
        const page = await client.send(
          new DescribeVolumesCommand({ Filters: filters, MaxResults: 500, NextToken: nextToken }),
        );
        for (const volume of page.Volumes ?? []) {
          const facts = volumeFacts(volume);
          if (facts) volumes.push(facts);
        }
        nextToken = page.NextToken;
      } while (nextToken);
    }
    return volumes;
  }

  return {
    async describeInstances(instanceIds) {
      const found = new Map<string, InstanceFacts>();
      // A filter, not InstanceIds: one unknown id would fail the whole call with NotFound.
      for (const batch of chunks([...new Set(instanceIds)], maxFilterValues)) {
        let nextToken: string | undefined;
        do {
          const page = await client.send(
            new DescribeInstancesCommand({
              Filters: [{ Name: 'instance-id', Values: batch }],
              MaxResults: 1000,
              NextToken: nextToken,
            }),
          );
          for (const instance of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
            const facts = instanceFacts(instance);
            if (facts) found.set(facts.instanceId, facts);
          }
          nextToken = page.NextToken;
        } while (nextToken);
      }
      return found;
    },

    describeVolumesAttachedTo: (instanceIds) =>
      describeVolumesBy('attachment.instance-id', instanceIds),

    describeVolumes: (volumeIds) => describeVolumesBy('volume-id', volumeIds),

    async detachVolume(volumeId, instanceId, force) {
      try {
        await detachLimit(() =>
          client.send(
            new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Force: force }),
          ),
        );
        return 'detaching';
      } catch (error) {
        const code = (error as { name?: string }).name ?? '';
        if (alreadyDetachedCodes.has(code)) return 'already-detached';
        throw new RemediationError(
          `${force ? 'force-detaching' : 'detaching'} ${volumeId} from ${instanceId}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    },
  };
}
