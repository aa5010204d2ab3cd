import { describe, expect, it } from 'vitest';
import type {
  AttachmentFacts,
  InstanceFacts,
  NodeFacts,
  VolumeFacts,
} from '../../../../functions/shared/remediation/facts.ts';
import {
  applyCircuitBreaker,
  type InstancePlan,
  nodeNameOfInstance,
  type Observation,
  outOfServiceTaint,
  planRemediation,
  planTaintLift,
  volumeIdOf,
} from '../../../../functions/shared/remediation/plan.ts';

const settings = { clusterName: 'prod', onStopped: 'remediate', outOfServiceTaint: true } as const;
const instanceId = 'i-0123456789abcdef0';
const nodeName = 'ip-10-0-1-23.ec2.internal';

function instance(overrides: Partial<InstanceFacts> = {}): InstanceFacts {
  return {
    instanceId,
    state: 'terminated',
    privateDnsName: nodeName,
    rootDeviceName: '/dev/xvda',
    tags: { 'kubernetes.io/cluster/prod': 'owned' },
    ...overrides,
  };
}

const node: NodeFacts = {
  name: nodeName,
  providerId: `aws:///us-east-1a/${instanceId}`,
  taints: [],
};

function attachment(name: string): AttachmentFacts {
  return {
    name,
    attacher: 'ebs.csi.aws.com',
    nodeName,
    nodeIdAnnotation: instanceId,
    persistentVolumeName: `pv-${name}`,
    deleting: false,
    finalizers: ['external-attacher/ebs-csi-aws-com'],
  };
}

function heldVolume(
  volumeId: string,
  device: string,
  tags: Record<string, string> = {},
): VolumeFacts {
  return { volumeId, tags, attachments: [{ instanceId, device, state: 'attached' }] };
}

function observe(overrides: Partial<Observation> = {}): Observation {
  return { instance: instance(), node, attachments: [], volumesInEc2: [], ...overrides };
}

const volA = 'vol-0aaaaaaaaaaaaaaaa';
const volB = 'vol-0bbbbbbbbbbbbbbbb';

describe('planRemediation', () => {
  it.each(['running', 'pending', 'stopping'] as const)(
    'refuses an instance EC2 reports %s',
    (state) => {
      const plan = planRemediation(observe({ instance: instance({ state }) }), settings);

      expect(plan).toMatchObject({ outcome: 'refused', state });
    },
  );

  it("skips an instance that is not the cluster's", () => {
    const stranger = observe({
      instance: instance({ tags: {} }),
      node: undefined,
      attachments: [],
    });

    expect(planRemediation(stranger, settings)).toMatchObject({ outcome: 'skipped' });
  });

  it("takes an instance EC2 no longer knows as the cluster's when its Node still exists", () => {
    const gone = observe({ instance: { instanceId, state: 'gone', tags: {} } });

    expect(planRemediation(gone, settings)).toMatchObject({
      outcome: 'remediate',
      forceAllowed: true,
    });
  });

  it('detaches a volume a PersistentVolume names, then deletes its attachment', () => {
    const plan = planRemediation(
      observe({
        attachments: [{ attachment: attachment('va-a'), volumeId: volA }],
        volumesInEc2: [heldVolume(volA, '/dev/xvdba')],
      }),
      settings,
    );

    expect(plan).toMatchObject({
      outcome: 'remediate',
      volumes: [{ volumeId: volA, detach: { device: '/dev/xvdba' }, attachmentNames: ['va-a'] }],
    });
  });

  it('never detaches the root volume', () => {
    const plan = planRemediation(
      observe({
        volumesInEc2: [heldVolume(volA, '/dev/xvda', { 'kubernetes.io/cluster/prod': 'owned' })],
      }),
      settings,
    );

    expect(plan).toMatchObject({
      volumes: [],
      skipped: [{ name: volA, reason: 'the root volume' }],
    });
  });

  it("leaves a volume that only the EBS CSI driver tag marks: some cluster's, maybe not ours", () => {
    const plan = planRemediation(
      observe({
        volumesInEc2: [heldVolume(volB, '/dev/xvdbb', { 'ebs.csi.aws.com/cluster': 'true' })],
      }),
      settings,
    );

    expect(plan).toMatchObject({ volumes: [], skipped: [{ kind: 'volume', name: volB }] });
  });

  it('detaches a volume tagged for the cluster even without a PersistentVolume', () => {
    const plan = planRemediation(
      observe({ volumesInEc2: [heldVolume(volB, '/dev/xvdbb', { KubernetesCluster: 'prod' })] }),
      settings,
    );

    expect(plan).toMatchObject({ volumes: [{ volumeId: volB, detach: {}, attachmentNames: [] }] });
  });

  it('only deletes the attachment of a volume EC2 no longer holds on the instance', () => {
    const plan = planRemediation(
      observe({
        attachments: [{ attachment: attachment('va-a'), volumeId: volA }],
        volumesInEc2: [],
      }),
      settings,
    );

    expect(plan).toMatchObject({ volumes: [{ volumeId: volA, attachmentNames: ['va-a'] }] });
    expect(plan.outcome === 'remediate' && plan.volumes[0]?.detach).toBeUndefined();
  });

  it('leaves an attachment it cannot tie to an EBS volume', () => {
    const plan = planRemediation(
      observe({ attachments: [{ attachment: attachment('va-x') }] }),
      settings,
    );

    expect(plan).toMatchObject({
      volumes: [],
      skipped: [{ kind: 'volumeattachment', name: 'va-x' }],
    });
  });

  it('taints the Node of a stopped instance, and allows force', () => {
    const plan = planRemediation(observe({ instance: instance({ state: 'stopped' }) }), settings);

    expect(plan).toMatchObject({ outcome: 'remediate', taintNode: nodeName, forceAllowed: true });
  });

  it('does not taint when the option is off', () => {
    const plan = planRemediation(observe({ instance: instance({ state: 'stopped' }) }), {
      ...settings,
      outOfServiceTaint: false,
    });

    expect(plan.outcome === 'remediate' && plan.taintNode).toBeFalsy();
  });

  it('never forces while the instance is still shutting down', () => {
    const plan = planRemediation(
      observe({ instance: instance({ state: 'shutting-down' }) }),
      settings,
    );

    expect(plan).toMatchObject({ outcome: 'remediate', forceAllowed: false });
  });
});

describe('planTaintLift', () => {
  const tainted: NodeFacts = { ...node, taints: [outOfServiceTaint] };

  it('lifts our taint from the Node of a running instance', () => {
    expect(planTaintLift(instance({ state: 'running' }), tainted)).toEqual({
      outcome: 'lift-taint',
      instanceId,
      nodeName,
    });
  });

  it('keeps the taint while EC2 does not report the instance running', () => {
    expect(planTaintLift(instance({ state: 'stopped' }), tainted)).toMatchObject({
      outcome: 'skipped',
    });
  });

  it('leaves an out-of-service taint someone else added', () => {
    const theirs: NodeFacts = {
      ...node,
      taints: [{ key: outOfServiceTaint.key, value: 'nodeshutdown', effect: 'NoExecute' }],
    };

    expect(planTaintLift(instance({ state: 'running' }), theirs)).toMatchObject({
      outcome: 'skipped',
    });
  });
});

describe('applyCircuitBreaker', () => {
  function planDetaching(count: number, id: string): InstancePlan {
    return {
      outcome: 'remediate',
      instanceId: id,
      state: 'terminated',
      forceAllowed: true,
      volumes: Array.from({ length: count }, (_, i) => ({
        volumeId: `vol-${String(i).padStart(17, '0')}`,
        detach: { device: '/dev/xvdba' },
        attachmentNames: [],
      })),
      skipped: [],
    };
  }

  it('lets plans through up to the limit', () => {
    const plans = [
      planDetaching(3, 'i-00000000000000001'),
      planDetaching(2, 'i-00000000000000002'),
    ];

    expect(applyCircuitBreaker(plans, 5)).toEqual(plans);
  });

  it('refuses every acting plan once the total passes the limit', () => {
    const plans = [
      planDetaching(3, 'i-00000000000000001'),
      planDetaching(3, 'i-00000000000000002'),
    ];

    const guarded = applyCircuitBreaker(plans, 5);

    expect(guarded.map((p) => p.outcome)).toEqual(['refused', 'refused']);
    expect(guarded[0]).toMatchObject({
      reason: expect.stringContaining('MAX_VOLUMES_PER_INVOCATION=5'),
    });
  });
});

describe('volumeIdOf', () => {
  it('reads the volume of a migrated inline volume from its inline spec', () => {
    const { persistentVolumeName: _, ...inline } = attachment('va-inline');

    expect(
      volumeIdOf({ ...inline, inlineVolumeReference: `aws://us-east-1a/${volA}` }, undefined),
    ).toBe(volA);
  });

  it('prefers the PersistentVolume reference', () => {
    expect(volumeIdOf(attachment('va-a'), volB)).toBe(volB);
  });

  it('gives nothing when neither names an EBS volume', () => {
    expect(volumeIdOf(attachment('va-a'), undefined)).toBeUndefined();
  });
});

describe('nodeNameOfInstance', () => {
  it("is the name of the instance's Node", () => {
    expect(nodeNameOfInstance([node], instance())).toBe(nodeName);
  });

  it('falls back to the private DNS name when the Node is gone', () => {
    expect(nodeNameOfInstance([], instance())).toBe(nodeName);
  });

  it("never takes the name of another instance's live Node (private DNS names repeat across VPCs)", () => {
    const liveNodeOfAnotherInstance: NodeFacts = {
      name: nodeName,
      providerId: 'aws:///us-east-1a/i-0fffffffffffffff0',
      taints: [],
    };

    expect(nodeNameOfInstance([liveNodeOfAnotherInstance], instance())).toBeUndefined();
  });
});
