import {
  CreateTagsCommand,
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type InstanceStatus,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { fencedAtTag } from '../contract/fence-tag.ts';
import type { FencedInstance, FencePort, StatusChecks } from '../fencing/fence-port.ts';
import { RemediationError } from '../util/errors.ts';
import { cutOffOptions } from '../util/invocation-cut-off.ts';
import { awsFailure } from './aws-failure.ts';
import { tagMap } from './ec2-port.ts';

/** EC2's answer when the instance is not in a state the call needs: it is not running any more. */
const notRunningCode = 'IncorrectInstanceState';

function statusChecksOf(status: InstanceStatus): StatusChecks {
  const attachedEbs = status.AttachedEbsStatus?.Status;
  return {
    system: status.SystemStatus?.Status ?? 'not-applicable',
    instance: status.InstanceStatus?.Status ?? 'not-applicable',
    ...(attachedEbs ? { attachedEbs } : {}),
  };
}

/** The FencePort over the AWS SDK. */
export function createFenceEc2Port(client: EC2Client): FencePort {
  const failing = (what: string) => (error: unknown) => {
    throw new RemediationError(`${what}: ${awsFailure(error, 'EC2')}`, { cause: error });
  };
  return {
    async statusChecks(instanceIds) {
      const checks = new Map<string, StatusChecks>();
      if (instanceIds.length === 0) return checks;
      let nextToken: string | undefined;
      do {
        const page = await client
          .send(
            new DescribeInstanceStatusCommand({
              InstanceIds: [...instanceIds],
              NextToken: nextToken,
            }),
            cutOffOptions(),
          )
          .catch(failing(`reading the status checks of ${instanceIds.join(', ')}`));
        for (const status of page.InstanceStatuses ?? []) {
          if (status.InstanceId) checks.set(status.InstanceId, statusChecksOf(status));
        }
        nextToken = page.NextToken;
      } while (nextToken);
      return checks;
    },

    async fencedInstances() {
      const found: FencedInstance[] = [];
      let nextToken: string | undefined;
      do {
        const page = await client
          .send(
            new DescribeInstancesCommand({
              Filters: [{ Name: 'tag-key', Values: [fencedAtTag] }],
              NextToken: nextToken,
            }),
            cutOffOptions(),
          )
          .catch(failing('reading which instances were fenced (the fence rate limit)'));
        for (const instance of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
          const tags = tagMap(instance.Tags);
          const fencedAt = Date.parse(tags[fencedAtTag] ?? '');
          if (instance.InstanceId && !Number.isNaN(fencedAt)) {
            found.push({ instanceId: instance.InstanceId, fencedAt, tags });
          }
        }
        nextToken = page.NextToken;
      } while (nextToken);
      return found;
    },

    async markFenced(instanceId, at) {
      await client
        .send(
          new CreateTagsCommand({
            Resources: [instanceId],
            Tags: [{ Key: fencedAtTag, Value: new Date(at).toISOString() }],
          }),
          cutOffOptions(),
        )
        .catch(failing(`tagging ${instanceId} ${fencedAtTag}`));
    },

    async fence(instanceId, action) {
      const command =
        action === 'stop'
          ? new StopInstancesCommand({ InstanceIds: [instanceId], Force: true })
          : new TerminateInstancesCommand({ InstanceIds: [instanceId] });
      try {
        await client.send(command, cutOffOptions());
        return 'fencing';
      } catch (error) {
        if ((error as { name?: string }).name === notRunningCode) return 'not-running';
        throw new RemediationError(
          `${action === 'stop' ? 'stopping' : 'terminating'} ${instanceId}: ${awsFailure(error, 'EC2')}`,
          { cause: error },
        );
      }
    },
  };
}
