/** Whether EC2 has released a volume from an instance, with concurrent checks sharing one call. */
import type { Ec2Port } from './ports.ts';

/** How long release checks of concurrent volumes wait for each other to share one call. */
const releaseCheckWindowMs = 25;

export type ReleaseChecker = (volumeId: string, instanceId: string) => Promise<boolean>;

/**
 * Whether EC2 has released a volume from an instance. Checks made within a few milliseconds of
 * each other share one DescribeVolumes call, whichever instances they are about: a node with 26
 * volumes costs one call per polling round, not 26, and a sweep's batch of nodes about as few
 * (Describe calls share one rate limit).
 */
export function createReleaseChecker(ec2: Ec2Port): ReleaseChecker {
  type Waiter = {
    instanceId: string;
    resolve: (released: boolean) => void;
    reject: (error: unknown) => void;
  };
  let queued = new Map<string, Waiter[]>();
  const flush = async () => {
    const batch = queued;
    queued = new Map();
    try {
      const volumes = new Map(
        (await ec2.describeVolumes([...batch.keys()])).map((v) => [v.volumeId, v]),
      );
      for (const [volumeId, waiters] of batch) {
        for (const { instanceId, resolve } of waiters) {
          const attachments = volumes.get(volumeId)?.attachments ?? [];
          resolve(!attachments.some((a) => a.instanceId === instanceId && a.state !== 'detached'));
        }
      }
    } catch (error) {
      for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(error);
    }
  };
  return (volumeId, instanceId) =>
    new Promise<boolean>((resolve, reject) => {
      if (queued.size === 0) setTimeout(() => void flush(), releaseCheckWindowMs);
      queued.set(volumeId, [...(queued.get(volumeId) ?? []), { instanceId, resolve, reject }]);
    });
}
