/**
 * The fence's EC2 calls for unit tests, over a FakeEc2's instances: the tag lands on the
 * instance, a stop or termination takes effect at once (as moto's does), every call is
 * recorded in the EC2 fake's log.
 */
import { fencedAtTag } from '#functions/shared/contract/fence-tag.ts';
import type { FencePort, StatusChecks } from '#functions/shared/fencing/fence-port.ts';
import type { FakeEc2 } from './fake-ec2.ts';

export interface FakeFence extends FencePort {
  /** The status checks EC2 reports, by instance (running instances without one: all `ok`). */
  readonly checks: Map<string, StatusChecks>;
}

export function fakeFence(ec2: FakeEc2): FakeFence {
  const { log } = ec2;
  const checks = new Map<string, StatusChecks>();
  return {
    checks,

    async statusChecks(instanceIds) {
      log.enter('statusChecks', [instanceIds]);
      return new Map(
        instanceIds
          .filter((id) => ec2.instance(id).state === 'running')
          .map((id) => [id, checks.get(id) ?? { system: 'ok', instance: 'ok' }]),
      );
    },

    async fencedInstances() {
      log.enter('fencedInstances', []);
      return [...ec2.instances.values()].flatMap((instance) => {
        const at = instance.tags[fencedAtTag];
        return at
          ? [{ instanceId: instance.instanceId, fencedAt: Date.parse(at), tags: instance.tags }]
          : [];
      });
    },

    async markFenced(instanceId, at) {
      log.enter('markFenced', [instanceId, at]);
      const instance = ec2.instance(instanceId);
      ec2.instances.set(instanceId, {
        ...instance,
        tags: { ...instance.tags, [fencedAtTag]: new Date(at).toISOString() },
      });
    },

    async fence(instanceId, action) {
      log.enter('fence', [instanceId, action]);
      if (ec2.instance(instanceId).state !== 'running') return 'not-running';
      ec2.setState(instanceId, action === 'stop' ? 'stopped' : 'terminated');
      return 'fencing';
    },
  };
}
