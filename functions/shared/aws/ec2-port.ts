import {
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  type Filter,
  type Instance,
  type Tag,
  type Volume,
} from '@aws-sdk/client-ec2';
import type { InstanceFacts, InstanceState, VolumeFacts } from '../remediation/facts.ts';
import type { Ec2Port } from '../remediation/ports.ts';
import { createLimiter, mapConcurrently } from '../util/concurrency.ts';
import { RemediationError } from '../util/errors.ts';
import { cutOffOptions } from '../util/invocation-cut-off.ts';
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

/** DescribeInstanceStatus takes at most 100 instance ids a call. */
const maxInstanceIdsPerStatusCall = 100;

/**
 * Describe calls by instance id in flight at once, for a sweep's thousands of instances: EC2
 * allows unfiltered DescribeInstances a burst of 50 and 10 a second, other Describe calls 100 and
 * 20.
 */
const describeCallsInFlight = 4;

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

/** EC2 tags as a plain map (a tag without a value maps to the empty string). */
export function tagMap(tags: readonly Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
}

/** An unknown state is treated as running: the one state in which nothing is touched. */
function knownState(state: string | undefined): InstanceState {
  return (state && knownStates.has(state) ? state : 'running') as InstanceState;
}

/**
 * When a stop or termination was asked for, from EC2's StateTransitionReason, such as
 * "User initiated (2026-12-07 01:02:03 GMT)" or "Service initiated (...)" (moto writes UTC).
 */
export function stateChangeRequestedAt(reason: string | undefined): number | undefined {
  const match = /\((\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)/.exec(reason ?? '');
  if (!match) return undefined;
  const at = Date.parse(`${match[1]}T${match[2]}Z`);
  return Number.isNaN(at) ? undefined : at;
}

function instanceFacts(instance: Instance): InstanceFacts | undefined {
  if (!instance.InstanceId) return undefined;
  const requestedAt = stateChangeRequestedAt(instance.StateTransitionReason);
  return {
    instanceId: instance.InstanceId,
    state: knownState(instance.State?.Name),
    ...(instance.PrivateDnsName ? { privateDnsName: instance.PrivateDnsName } : {}),
    ...(instance.RootDeviceName ? { rootDeviceName: instance.RootDeviceName } : {}),
    ...(instance.StateReason?.Code ? { stateReasonCode: instance.StateReason.Code } : {}),
    ...(requestedAt === undefined ? {} : { stateChangeRequestedAt: requestedAt }),
    ...(instance.HibernationOptions?.Configured ? { hibernationConfigured: true } : {}),
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

/**
 * Asks EC2 about every id, `perCall` at a time, and answers each: as EC2 described it, or `gone`
 * where EC2 answered InvalidInstanceID.NotFound for that very id (those are asked again without
 * it). By id, never by filter: absence from a filtered or paginated answer proves nothing.
 * Throws rather than leave an id unanswered.
 */
async function askById(
  instanceIds: readonly string[],
  perCall: number,
  describe: (asked: string[]) => Promise<InstanceFacts[]>,
): Promise<Map<string, InstanceFacts>> {
  const found = new Map<string, InstanceFacts>();
  const batches = chunks([...new Set(instanceIds)], perCall);
  await mapConcurrently(batches, describeCallsInFlight, (batch) =>
    askBatch(batch, describe, found),
  );
  const unanswered = instanceIds.filter((id) => !found.has(id));
  if (unanswered.length > 0) {
    throw new RemediationError(
      `describing instances: EC2 answered neither the instance nor InvalidInstanceID.NotFound for ${unanswered.join(', ')}`,
    );
  }
  return found;
}

/** Asks about one batch, recording each answer in `found`; ids EC2 says it does not know are gone. */
async function askBatch(
  batch: string[],
  describe: (asked: string[]) => Promise<InstanceFacts[]>,
  found: Map<string, InstanceFacts>,
): Promise<void> {
  let asked = batch;
  while (asked.length > 0) {
    try {
      const answer = await describe(asked);
      const describedAt = Date.now();
      for (const facts of answer) found.set(facts.instanceId, { ...facts, describedAt });
      return;
    } catch (error) {
      const unknown = notFoundInstanceIds(error, asked);
      if (unknown.length === 0) {
        throw new RemediationError(
          `describing instances ${listed(asked)}: ${awsFailure(error, 'EC2')}`,
          { cause: error },
        );
      }
      for (const instanceId of unknown) {
        found.set(instanceId, { instanceId, state: 'gone', tags: {}, describedAt: Date.now() });
      }
      asked = asked.filter((id) => !unknown.includes(id));
    }
  }
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

    describeInstances: (instanceIds) =>
      askById(instanceIds, maxInstanceIdsPerCall, async (asked) => {
        const answer = await client.send(
          new DescribeInstancesCommand({ InstanceIds: asked }),
          cutOffOptions(),
        );
        return (answer.Reservations ?? [])
          .flatMap((r) => r.Instances ?? [])
          .flatMap((instance) => {
            const facts = instanceFacts(instance);
            return facts ? [facts] : [];
          });
      }),

    async instanceStates(instanceIds) {
      // DescribeInstanceStatus answers the state alone, without the whole description (network
      // interfaces, block devices, tags) that DescribeInstances sends for every instance: for a
      // sweep's thousands of instances, a fraction of the bytes and of the answer's parsing.
      const facts = await askById(instanceIds, maxInstanceIdsPerStatusCall, async (asked) => {
        const answer = await client.send(
          // Without IncludeAllInstances only running instances are answered, and silence
          // would prove nothing.
          new DescribeInstanceStatusCommand({ InstanceIds: asked, IncludeAllInstances: true }),
          cutOffOptions(),
        );
        return (answer.InstanceStatuses ?? []).flatMap(({ InstanceId, InstanceState }) =>
          InstanceId
            ? [{ instanceId: InstanceId, state: knownState(InstanceState?.Name), tags: {} }]
            : [],
        );
      });
      return new Map([...facts].map(([id, instance]) => [id, instance.state]));
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
