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
import { createLimiter, mapConcurrently } from '../concurrency.ts';
import { RemediationError } from '../errors.ts';
import { cutOffOptions } from '../invocation-cut-off.ts';
import type { InstanceFacts, InstanceState, VolumeFacts } from '../remediation/facts.ts';
import type { Ec2Port } from '../remediation/ports.ts';
import { awsFailure } from './aws-failure.ts';

/**
 * DetachVolume calls in flight at once. EC2 allows mutating calls a burst of 50 and 5 a second
 * after that, per account and Region; a sweep of many dead nodes must not spend it all at once.
 */
const maxDetachesInFlight = 10;

/** EC2 takes at most 200 values in one filter. */
const maxFilterValues = 200;

/** Instance ids per DescribeInstances call (the EBS CSI driver sends up to 1000). */
const maxInstanceIdsPerCall = 200;

/**
 * DescribeInstances calls in flight at once, for a sweep's thousands of instances: EC2 allows
 * unfiltered Describe calls a burst of 50 and 10 a second.
 */
const describeInstancesCallsInFlight = 4;

/**
 * The ids that EC2's InvalidInstanceID.NotFound names ("The instance ID 'i-1' does not exist",
 * "The instance IDs 'i-1, i-2' do not exist"), among those asked; none for any other error.
 */
export function notFoundInstanceIds(error: unknown, asked: readonly string[]): string[] {
  if ((error as { name?: string }).name !== 'InvalidInstanceID.NotFound') return [];
  const named = new Set(((error as Error).message ?? '').match(/\bi-[0-9a-f]+\b/g) ?? []);
  return asked.filter((id) => named.has(id));
}

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

/** Up to three ids and how many more: enough to find them, short enough for a log line. */
function listed(ids: readonly string[]): string {
  const shown = ids.slice(0, 3).join(', ');
  return ids.length > 3 ? `${shown} and ${ids.length - 3} more` : shown;
}

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
    ...(instance.StateReason?.Code ? { stateReasonCode: instance.StateReason.Code } : {}),
    ...(instance.Placement?.AvailabilityZone
      ? { availabilityZone: instance.Placement.AvailabilityZone }
      : {}),
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
      deleteOnTermination: attachment.DeleteOnTermination === true,
    })),
  };
}

/** The Ec2Port over the AWS SDK, batching by filter (never one call per instance). */
export function createEc2Port(client: EC2Client): Ec2Port {
  const detachLimit = createLimiter(maxDetachesInFlight);
  async function describeVolumesBy(
    filterName: string,
    values: readonly string[],
    what: (batch: readonly string[]) => string,
  ) {
    const volumes: VolumeFacts[] = [];
    for (const batch of chunks([...new Set(values)], maxFilterValues)) {
      const filters: Filter[] = [{ Name: filterName, Values: batch }];
      let nextToken: string | undefined;
      do {
        const page = await client
          .send(
            new DescribeVolumesCommand({ Filters: filters, MaxResults: 500, NextToken: nextToken }),
            cutOffOptions(),
          )
          .catch((error: unknown) => {
            throw new RemediationError(`${what(batch)}: ${awsFailure(error, 'EC2')}`, {
              cause: error,
            });
          });
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
    region: () => client.config.region(),

    async describeInstances(instanceIds) {
      const found = new Map<string, InstanceFacts>();
      // By id, never by filter: only EC2's InvalidInstanceID.NotFound for that very id proves an
      // instance gone; absence from a filtered or paginated answer proves nothing.
      const batches = chunks([...new Set(instanceIds)], maxInstanceIdsPerCall);
      await mapConcurrently(batches, describeInstancesCallsInFlight, async (batch) => {
        let asked = batch;
        while (asked.length > 0) {
          try {
            const answer = await client.send(
              new DescribeInstancesCommand({ InstanceIds: asked }),
              cutOffOptions(),
            );
            for (const instance of (answer.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
              const facts = instanceFacts(instance);
              if (facts) found.set(facts.instanceId, facts);
            }
            asked = [];
          } catch (error) {
            const unknown = notFoundInstanceIds(error, asked);
            if (unknown.length === 0) {
              throw new RemediationError(
                `describing instances ${listed(asked)}: ${awsFailure(error, 'EC2')}`,
                { cause: error },
              );
            }
            for (const instanceId of unknown) {
              found.set(instanceId, { instanceId, state: 'gone', tags: {} });
            }
            asked = asked.filter((id) => !unknown.includes(id));
          }
        }
      });
      const unanswered = instanceIds.filter((id) => !found.has(id));
      if (unanswered.length > 0) {
        throw new RemediationError(
          `describing instances: EC2 answered neither the instance nor InvalidInstanceID.NotFound for ${unanswered.join(', ')}`,
        );
      }
      return found;
    },

    describeVolumesAttachedTo: (instanceIds) =>
      describeVolumesBy(
        'attachment.instance-id',
        instanceIds,
        (batch) => `describing the volumes attached to ${listed(batch)}`,
      ),

    describeVolumes: (volumeIds) =>
      describeVolumesBy('volume-id', volumeIds, (batch) => `describing volumes ${listed(batch)}`),

    async detachVolume(volumeId, instanceId, force) {
      try {
        await detachLimit(() =>
          client.send(
            new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Force: force }),
            cutOffOptions(),
          ),
        );
        return 'detaching';
      } catch (error) {
        const { name: code = '', $metadata } = error as {
          name?: string;
          $metadata?: { attempts?: number };
        };
        if (alreadyDetachedCodes.has(code)) {
          // On a retry of the SDK's (the first answer was lost on the way), "not attached" is
          // most likely the first attempt's own doing: counted as this run's detach.
          return ($metadata?.attempts ?? 1) > 1 ? 'detaching' : 'already-detached';
        }
        throw new RemediationError(
          `${force ? 'force-detaching' : 'detaching'} ${volumeId} from ${instanceId}: ${awsFailure(error, 'EC2')}`,
          { cause: error },
        );
      }
    },
  };
}
