import { describe, expect, it } from 'vitest';
import { executeRemediation } from '../../../../functions/shared/remediation/execute.ts';
import type { VolumeFacts } from '../../../../functions/shared/remediation/facts.ts';
import type { InstancePlan } from '../../../../functions/shared/remediation/plan.ts';
import type { Ec2Port, KubernetesPort } from '../../../../functions/shared/remediation/ports.ts';

const instanceId = 'i-0123456789abcdef0';
const options = {
  dryRun: false,
  detachTimeoutMs: 1000,
  forceDetachTimeoutMs: 1000,
  attacherGraceMs: 0,
};
const noSleep = async () => undefined;

/** An EC2 port whose DetachVolume takes a while, counting how many are in flight at once. */
function slowEc2(stuck: ReadonlySet<string> = new Set()) {
  const held = new Map<string, boolean>();
  let inFlight = 0;
  const calls: Array<{ volumeId: string; force: boolean }> = [];
  const port: Ec2Port = {
    describeInstances: async () => new Map(),
    describeVolumesAttachedTo: async () => [],
    async describeVolumes(ids): Promise<VolumeFacts[]> {
      return ids.map((volumeId) => ({
        volumeId,
        tags: {},
        attachments:
          held.get(volumeId) === false
            ? []
            : [{ instanceId, device: '/dev/xvdba', state: 'attached' }],
      }));
    },
    async detachVolume(volumeId, _instance, force) {
      calls.push({ volumeId, force });
      inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight--;
      if (!stuck.has(volumeId) || force) held.set(volumeId, false);
      return 'detaching';
    },
  };
  const stats = { maxInFlight: 0, calls };
  return { port, stats };
}

const kube: KubernetesPort = {
  listNodes: async () => [],
  listVolumeAttachments: async () => [],
  readPersistentVolume: async () => undefined,
  readVolumeAttachment: async () => undefined,
  deleteVolumeAttachment: async () => 'deleted',
  removeVolumeAttachmentFinalizer: async () => [],
  addNodeTaint: async () => undefined,
  removeNodeTaint: async () => undefined,
};

function planWith(volumeCount: number, state: 'terminated' | 'shutting-down' = 'terminated') {
  return {
    outcome: 'remediate',
    instanceId,
    state,
    forceAllowed: state === 'terminated',
    volumes: Array.from({ length: volumeCount }, (_, i) => ({
      volumeId: `vol-${String(i).padStart(17, '0')}`,
      detach: { device: '/dev/xvdba' },
      attachmentNames: [`va-${i}`],
    })),
    skipped: [],
  } satisfies Extract<InstancePlan, { outcome: 'remediate' }>;
}

describe('executeRemediation', () => {
  it('detaches the volumes of one node all at once, not one after another', async () => {
    const ec2 = slowEc2();

    await executeRemediation(planWith(20), { ec2: ec2.port, kube, sleep: noSleep }, options);

    expect(ec2.stats.maxInFlight).toBe(20);
  });

  it('checks the release of concurrent volumes with one DescribeVolumes call', async () => {
    const ec2 = slowEc2();
    let describeCalls = 0;
    const counted = {
      ...ec2.port,
      describeVolumes: (ids: readonly string[]) => {
        describeCalls++;
        return ec2.port.describeVolumes(ids);
      },
    };

    await executeRemediation(planWith(20), { ec2: counted, kube, sleep: noSleep }, options);

    // One in the normal case; a little slack for a busy machine spreading the detaches out.
    expect(describeCalls).toBeLessThanOrEqual(3);
  });

  it('forces a detach that does not finish in time, for a terminated instance', async () => {
    const ec2 = slowEc2(new Set(['vol-00000000000000000']));

    const records = await executeRemediation(
      planWith(1),
      { ec2: ec2.port, kube, sleep: noSleep },
      {
        ...options,
        detachTimeoutMs: 1,
      },
    );

    expect(ec2.stats.calls).toEqual([
      { volumeId: 'vol-00000000000000000', force: false },
      { volumeId: 'vol-00000000000000000', force: true },
    ]);
    expect(records[0]).toMatchObject({ action: 'force-detach-volume', outcome: 'done' });
  });

  it('does not force while the instance is shutting down, and keeps the attachment', async () => {
    const ec2 = slowEc2(new Set(['vol-00000000000000000']));

    const records = await executeRemediation(
      planWith(1, 'shutting-down'),
      { ec2: ec2.port, kube, sleep: noSleep },
      {
        ...options,
        detachTimeoutMs: 1,
      },
    );

    expect(ec2.stats.calls.every((call) => !call.force)).toBe(true);
    expect(records).toEqual([
      expect.objectContaining({ action: 'detach-volume', outcome: 'failed' }),
    ]);
  });

  it('in dry-run calls nothing that changes anything', async () => {
    const ec2 = slowEc2();

    const records = await executeRemediation(
      planWith(2),
      { ec2: ec2.port, kube, sleep: noSleep },
      {
        ...options,
        dryRun: true,
      },
    );

    expect(ec2.stats.calls).toEqual([]);
    expect(records.every((r) => r.outcome === 'planned')).toBe(true);
  });
});
