import { describe, expect, it } from 'vitest';
import { applyCircuitBreaker } from '#functions/shared/remediation/circuit-breaker.ts';
import type {
  AttachmentFacts,
  InstanceFacts,
  MappedAttachment,
  NodeFacts,
  Observation,
  PodFacts,
  VolumeFacts,
} from '#functions/shared/remediation/facts.ts';
import {
  attachmentsOfInstance,
  nodeNameOfInstance,
  volumeIdOf,
} from '#functions/shared/remediation/matching.ts';
import { outOfServiceTaint } from '#functions/shared/remediation/out-of-service-taint.ts';
import {
  type InstancePlan,
  planRemediation,
  planTaintLift,
} from '#functions/shared/remediation/plan.ts';

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
  it.each(['running', 'pending'] as const)('refuses an instance EC2 reports %s', (state) => {
    const plan = planRemediation(observe({ instance: instance({ state }) }), settings);

    expect(plan).toMatchObject({ outcome: 'refused', state });
  });

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
      volumes: [
        { volumeId: volA, detach: { device: '/dev/xvdba' }, attachments: [{ name: 'va-a' }] },
      ],
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

  it.each<Record<string, string>>([
    { 'kubernetes.io/cluster/prod': 'owned' },
    { KubernetesCluster: 'prod' },
    { 'eks:cluster-name': 'prod' },
  ])(
    'never detaches a volume that only a cluster tag marks (%o): Karpenter copies those onto node volumes',
    (tags) => {
      const plan = planRemediation(
        observe({ volumesInEc2: [heldVolume(volB, '/dev/xvdbb', tags)] }),
        settings,
      );

      expect(plan).toMatchObject({
        volumes: [],
        skipped: [
          { kind: 'volume', name: volB, reason: expect.stringContaining('a tag alone never does') },
        ],
      });
    },
  );

  it('never detaches a volume attached with DeleteOnTermination, even one a PersistentVolume names', () => {
    const dataVolume: VolumeFacts = {
      volumeId: volA,
      tags: {},
      attachments: [
        { instanceId, device: '/dev/xvdb', state: 'attached', deleteOnTermination: true },
      ],
    };
    const plan = planRemediation(
      observe({
        attachments: [{ attachment: attachment('va-a'), volumeId: volA }],
        volumesInEc2: [dataVolume],
      }),
      settings,
    );

    expect(plan).toMatchObject({
      skipped: [{ name: volA, reason: expect.stringContaining('DeleteOnTermination') }],
    });
    expect(plan.outcome === 'remediate' && plan.volumes.some((v) => v.detach)).toBe(false);
  });

  it.each([
    ['stopping', 'freed once it has stopped'],
    ['shutting-down', 'acts once EC2 reports it terminated'],
  ] as const)(
    'waits, without refusing, for an instance that is %s (a normal step of its end)',
    (state, reason) => {
      const plan = planRemediation(observe({ instance: instance({ state }) }), settings);

      expect(plan).toMatchObject({ outcome: 'waiting', reason: expect.stringContaining(reason) });
    },
  );

  it('leaves a stopped instance configured for hibernation alone by default, and frees it on request', () => {
    const capable = observe({
      instance: instance({ state: 'stopped', hibernationConfigured: true }),
      attachments: [{ attachment: attachment('va-a'), volumeId: volA }],
      volumesInEc2: [heldVolume(volA, '/dev/xvdba')],
    });

    expect(planRemediation(capable, settings)).toMatchObject({
      outcome: 'skipped',
      reason: expect.stringContaining('configured for hibernation'),
    });
    expect(
      planRemediation(capable, { ...settings, onStoppedHibernationCapable: 'remediate' }),
    ).toMatchObject({ outcome: 'remediate', volumes: [{ volumeId: volA }] });
  });

  it('waits for an instance that is shutting down: its guest OS still holds its filesystems', () => {
    const plan = planRemediation(
      observe({ instance: instance({ state: 'shutting-down' }) }),
      settings,
    );

    expect(plan).toMatchObject({
      outcome: 'waiting',
      reason: expect.stringContaining('acts once EC2 reports it terminated'),
    });
  });

  it('leaves a hibernated instance alone: it resumes with its memory and mounts', () => {
    const plan = planRemediation(
      observe({
        instance: instance({ state: 'stopped', stateReasonCode: 'Client.UserInitiatedHibernate' }),
        attachments: [{ attachment: attachment('va-a'), volumeId: volA }],
      }),
      settings,
    );

    expect(plan).toMatchObject({
      outcome: 'skipped',
      reason: expect.stringContaining('hibernated'),
    });
  });

  it("refuses a Node whose zone is in another Region: this Region's EC2 proves nothing of it", () => {
    const plan = planRemediation(
      observe({
        instance: { instanceId, state: 'gone', tags: {} },
        node: { ...node, providerId: `aws:///eu-west-1a/${instanceId}` },
        region: 'us-east-1',
      }),
      settings,
    );

    expect(plan).toMatchObject({
      outcome: 'refused',
      reason: expect.stringContaining("zone eu-west-1a is not in this function's Region us-east-1"),
    });
  });

  it('acts on a Node of a Local Zone of its Region', () => {
    const plan = planRemediation(
      observe({
        node: { ...node, providerId: `aws:///us-east-1-bos-1a/${instanceId}` },
        region: 'us-east-1',
      }),
      settings,
    );

    expect(plan.outcome).toBe('remediate');
  });

  it('only deletes the attachment of a volume EC2 no longer holds on the instance', () => {
    const plan = planRemediation(
      observe({
        attachments: [{ attachment: attachment('va-a'), volumeId: volA }],
        volumesInEc2: [],
      }),
      settings,
    );

    expect(plan).toMatchObject({ volumes: [{ volumeId: volA, attachments: [{ name: 'va-a' }] }] });
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
  const limits = { maxActions: 10, maxDeadNodePercent: 50 };

  function planActing(
    id: string,
    volumes: number,
    options: { deletions?: number; taint?: boolean; nodeName?: string; pods?: number } = {},
  ): InstancePlan {
    return {
      outcome: 'remediate',
      instanceId: id,
      state: 'stopped',
      ...(options.nodeName ? { nodeName: options.nodeName } : {}),
      forceAllowed: true,
      volumes: Array.from({ length: volumes }, (_, i) => ({
        volumeId: `vol-${String(i).padStart(17, '0')}`,
        detach: { device: '/dev/xvdba' },
        attachments: Array.from({ length: options.deletions ?? 0 }, (_, j) => ({
          name: `va-${i}-${j}`,
        })),
      })),
      ...(options.taint ? { taintNode: options.nodeName ?? 'node' } : {}),
      evictPods: Array.from({ length: options.pods ?? 0 }, (_, i) => ({
        namespace: 'default',
        name: `pod-${i}`,
        uid: `uid-${i}`,
        deleting: false,
      })),
      followPods: [],
      controllersDetach: false,
      skipped: [],
    };
  }

  it('lets plans through up to the limit', () => {
    const plans = [planActing('i-00000000000000001', 5), planActing('i-00000000000000002', 5)];

    expect(applyCircuitBreaker(plans, limits, [])).toEqual(plans);
  });

  it('counts every destructive action: detaches, VolumeAttachment deletions and taints', () => {
    // 3 detaches + 6 deletions + 1 taint = 10, then one more detach makes 11.
    const plans = [
      planActing('i-00000000000000001', 3, { deletions: 2, taint: true }),
      planActing('i-00000000000000002', 1),
    ];

    const guarded = applyCircuitBreaker(plans, limits, []);

    expect(guarded.map((p) => p.outcome)).toEqual(['refused', 'refused']);
    expect(guarded[0]).toMatchObject({
      reason: expect.stringContaining(
        '11 destructive actions in one invocation, more than MAX_ACTIONS_PER_INVOCATION=10',
      ),
    });
  });

  it("refuses when more than MAX_DEAD_NODE_PERCENT of the cluster's Nodes look dead at once", () => {
    const nodes: NodeFacts[] = [
      { name: 'a', taints: [], ready: false },
      { name: 'b', taints: [], ready: true },
      { name: 'c', taints: [], ready: true },
      { name: 'd', taints: [] },
    ];
    // a is NotReady, b is the one being remediated: 2 of 4 = 50%, allowed; c too makes 75%.
    const one = [planActing('i-00000000000000001', 1, { nodeName: 'b' })];
    const two = [...one, planActing('i-00000000000000002', 1, { nodeName: 'c' })];

    expect(applyCircuitBreaker(one, limits, nodes)).toEqual(one);
    expect(applyCircuitBreaker(two, limits, nodes)[0]).toMatchObject({
      outcome: 'refused',
      reason: expect.stringContaining("75% of the cluster's 4 Nodes look dead"),
    });
  });

  it('does not refuse a dead Node for its many pods: they died with it', () => {
    const plans = [planActing('i-00000000000000001', 1, { taint: true, pods: 101 })];

    expect(applyCircuitBreaker(plans, limits, [])).toEqual(plans);
  });

  it('counts a Node carrying our taint as dead, so invocations running at once see each other', () => {
    const nodes: NodeFacts[] = [
      { name: 'a', taints: [outOfServiceTaint], ready: true },
      { name: 'b', taints: [], ready: true },
      { name: 'c', taints: [], ready: true },
    ];
    // a was tainted by another invocation a moment ago; b is this one's: 2 of 3 look dead.
    const plans = [planActing('i-00000000000000001', 1, { nodeName: 'b' })];

    expect(applyCircuitBreaker(plans, limits, nodes)[0]).toMatchObject({
      outcome: 'refused',
      reason: expect.stringContaining("67% of the cluster's 3 Nodes look dead"),
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

  it('finds the name of a terminated instance’s gone Node in the VolumeAttachments made for it (EC2 keeps no DNS name)', () => {
    const terminated = instance({ privateDnsName: undefined });
    const made: AttachmentFacts = { ...attachment('va-a'), nodeName: 'ip-10-0-9-9.ec2.internal' };

    expect(nodeNameOfInstance([], terminated, [made])).toBe('ip-10-0-9-9.ec2.internal');
  });

  it('never takes a name from the VolumeAttachments that a live Node of another instance bears', () => {
    const made: AttachmentFacts = { ...attachment('va-a'), nodeName: 'ip-10-0-9-9.ec2.internal' };
    const live: NodeFacts = {
      name: 'ip-10-0-9-9.ec2.internal',
      providerId: 'aws:///us-east-1a/i-0fffffffffffffff0',
      taints: [],
    };

    expect(
      nodeNameOfInstance([live], instance({ privateDnsName: undefined }), [made]),
    ).toBeUndefined();
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

describe('planRemediation: the stages that recover the pod', () => {
  const pod = (name: string, extra: Partial<PodFacts> = {}): PodFacts => ({
    namespace: 'db',
    name,
    uid: `uid-${name}`,
    deleting: false,
    evictedByTaintManager: false,
    tolerations: [],
    claims: [],
    inlineVolumeIds: [],
    ...extra,
  });
  /** What DaemonSets such as aws-node, kube-proxy and ebs-csi-node carry: every taint, for good. */
  const everything = [{ operator: 'Exists' }];

  it.each(['terminated', 'stopped', 'gone'] as const)(
    'taints the Node of a %s instance out-of-service and evicts its pods',
    (state) => {
      const plan = planRemediation(
        observe({ instance: instance({ state }), pods: [pod('db-0')] }),
        settings,
      );

      expect(plan).toMatchObject({
        outcome: 'remediate',
        taintNode: nodeName,
        controllersDetach: true,
        evictPods: [{ namespace: 'db', name: 'db-0', uid: 'uid-db-0' }],
      });
    },
  );

  it('leaves a pod that tolerates the taint, and keeps only the volume it uses: every other volume goes on', () => {
    const usedByAgent: MappedAttachment = {
      attachment: attachment('va-agent'),
      volumeId: volB,
      claim: 'db/agent-data',
    };
    const plan = planRemediation(
      observe({
        pods: [
          pod('db-0', { claims: ['data-db-0'] }),
          pod('agent', { tolerations: everything, claims: ['agent-data'] }),
        ],
        attachments: [
          { attachment: attachment('va-db'), volumeId: volA, claim: 'db/data-db-0' },
          usedByAgent,
        ],
        volumesInEc2: [heldVolume(volA, '/dev/xvdba'), heldVolume(volB, '/dev/xvdbb')],
      }),
      settings,
    );

    expect(plan).toMatchObject({
      outcome: 'remediate',
      evictPods: [{ name: 'db-0' }],
      volumes: [{ volumeId: volA }],
      skipped: [{ kind: 'volume', name: volB, reason: expect.stringContaining('db/agent') }],
    });
  });

  it('goes on through every stage where only node agents stay, and deletes the Node with DELETE_TERMINATED_NODES', () => {
    const plan = planRemediation(
      observe({
        pods: [
          pod('db-0', { claims: ['data-db-0'] }),
          pod('aws-node-x1', { namespace: 'kube-system', tolerations: everything }),
          pod('kube-proxy-x1', { namespace: 'kube-system', tolerations: everything }),
          pod('ebs-csi-node-x1', { namespace: 'kube-system', tolerations: everything }),
        ],
        attachments: [{ attachment: attachment('va-db'), volumeId: volA, claim: 'db/data-db-0' }],
        volumesInEc2: [heldVolume(volA, '/dev/xvdba')],
      }),
      { ...settings, deleteTerminatedNodes: true },
    );

    expect(plan).toMatchObject({
      outcome: 'remediate',
      evictPods: [{ name: 'db-0' }],
      volumes: [{ volumeId: volA, detach: {} }],
      deleteNode: { name: nodeName },
      skipped: [],
    });
  });

  it.each([
    [
      'Exists on the key',
      [{ key: 'node.kubernetes.io/out-of-service', operator: 'Exists' }],
      'stays',
    ],
    ['Exists on every NoExecute taint', [{ operator: 'Exists', effect: 'NoExecute' }], 'stays'],
    [
      'Equal with our value',
      [{ key: 'node.kubernetes.io/out-of-service', value: 'ebs-volume-remediator' }],
      'stays',
    ],
    [
      'Equal with another value',
      [{ key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown' }],
      'evicted',
    ],
    ['Exists on NoSchedule only', [{ operator: 'Exists', effect: 'NoSchedule' }], 'evicted'],
    ['another key', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists' }], 'evicted'],
    ['for 30 seconds', [{ operator: 'Exists', tolerationSeconds: 30 }], 'evicted after 30 s'],
    ['for 0 seconds', [{ operator: 'Exists', tolerationSeconds: 0 }], 'evicted'],
  ] as const)('matches a toleration as Kubernetes does: %s', (_case, tolerations, expected) => {
    const plan = planRemediation(observe({ pods: [pod('app', { tolerations })] }), settings);

    const evicted = plan.outcome === 'remediate' ? plan.evictPods : [];
    if (expected === 'stays') expect(evicted).toEqual([]);
    else if (expected === 'evicted')
      expect(evicted).toEqual([expect.not.objectContaining({ toleratedForMs: expect.anything() })]);
    else
      expect(evicted).toEqual([expect.objectContaining({ name: 'app', toleratedForMs: 30_000 })]);
  });

  it('keeps a volume a staying pod names inline (in-tree awsElasticBlockStore)', () => {
    const plan = planRemediation(
      observe({
        pods: [pod('legacy', { tolerations: everything, inlineVolumeIds: [volA] })],
        attachments: [{ attachment: attachment('va-inline'), volumeId: volA }],
        volumesInEc2: [heldVolume(volA, '/dev/xvdba')],
      }),
      settings,
    );

    expect(plan).toMatchObject({ volumes: [], skipped: [{ name: volA }] });
  });

  it('evicts every pod of a Node that is gone, as PodGC would after 40 s, and lets nobody wait for a taint', () => {
    const plan = planRemediation(
      observe({
        node: undefined,
        pods: [pod('db-0'), pod('agent', { tolerations: everything })],
      }),
      settings,
    );

    expect(plan).toMatchObject({ controllersDetach: false, evictPods: [{}, {}] });
    expect(plan.outcome === 'remediate' && plan.taintNode).toBeFalsy();
  });

  it.each([
    ['terminated', true],
    ['gone', true],
    ['stopped', false],
  ] as const)(
    'with DELETE_TERMINATED_NODES deletes the Node of a %s instance last: %s',
    (state, deletes) => {
      const plan = planRemediation(observe({ instance: instance({ state }) }), {
        ...settings,
        deleteTerminatedNodes: true,
      });

      expect(plan.outcome === 'remediate' && plan.deleteNode?.name === nodeName).toBe(deletes);
    },
  );

  it('without the taint (OUT_OF_SERVICE_TAINT=false) evicts nothing from a Node that exists', () => {
    const plan = planRemediation(observe({ pods: [pod('db-0')] }), {
      ...settings,
      outOfServiceTaint: false,
    });

    expect(plan).toMatchObject({ controllersDetach: false, evictPods: [] });
  });
});

describe('planRemediation: a Node that shows life after its instance died is someone else’s', () => {
  // EC2 gave the dead instance's private IP, and so its DNS name, to a new instance, whose
  // kubelet adopted the Node left behind; the Node's providerID still names the dead instance.
  const diedAt = Date.parse('2026-12-07T01:00:00Z');
  const later = (seconds: number) => diedAt + seconds * 1000;
  const adopted = (facts: Partial<NodeFacts>): NodeFacts => ({
    ...node,
    uid: 'uid-node',
    ...facts,
  });
  const pods: PodFacts[] = [
    {
      namespace: 'db',
      name: 'db-0',
      uid: 'uid-db-0',
      deleting: false,
      evictedByTaintManager: false,
      tolerations: [],
      claims: [],
      inlineVolumeIds: [],
    },
  ];

  it.each([
    ['its Lease was renewed', { leaseRenewedAt: later(30) }],
    ['it reported Ready', { ready: true, readyHeartbeatAt: later(30) }],
  ])(
    'refuses, with the evidence, to taint a Node or delete its pods when %s after the event said the instance died',
    (evidence, facts) => {
      const plan = planRemediation(
        observe({ node: adopted(facts), diedAt, observedAt: later(35), pods }),
        settings,
      );

      expect(plan).toMatchObject({ outcome: 'refused' });
      expect(plan.outcome === 'refused' && plan.reason).toContain(evidence);
      expect(plan).not.toHaveProperty('taintNode');
      expect(plan).not.toHaveProperty('evictPods');
    },
  );

  it('remediates a Node whose last renewal came before the death, however recent', () => {
    const plan = planRemediation(
      observe({
        node: adopted({ leaseRenewedAt: later(-1), ready: true, readyHeartbeatAt: later(-9) }),
        diedAt,
        observedAt: later(3),
        pods,
      }),
      settings,
    );

    expect(plan).toMatchObject({
      outcome: 'remediate',
      taintNode: nodeName,
      evictPods: [{ name: 'db-0' }],
    });
  });

  it('without the event’s time, takes a renewal after the termination was asked for as life only while the Lease is current (a kubelet runs on while its instance shuts down)', () => {
    const dying = observe({
      instance: instance({ stateChangeRequestedAt: diedAt }),
      node: adopted({ leaseRenewedAt: later(20) }),
      observedAt: later(20 + 41),
      pods,
    });
    const adoptedNow = { ...dying, observedAt: later(20 + 5) };

    expect(planRemediation(dying, settings)).toMatchObject({ outcome: 'remediate' });
    expect(planRemediation(adoptedNow, settings)).toMatchObject({
      outcome: 'refused',
      reason: expect.stringContaining('5 s before it was read'),
    });
  });

  it('takes "gone" as this account’s word only: a Node whose Lease is current is not acted on', () => {
    const plan = planRemediation(
      observe({
        instance: instance({ state: 'gone' }),
        node: adopted({ leaseRenewedAt: later(0) }),
        observedAt: later(10),
      }),
      settings,
    );

    expect(plan).toMatchObject({ outcome: 'refused' });
  });

  it('acts on an instance EC2 does not know only once its Node stopped reporting: no Lease renewal for the node-monitor grace period, or NotReady without a Lease', () => {
    const gone = (facts: Partial<NodeFacts>, observedAt: number) =>
      planRemediation(
        observe({ instance: instance({ state: 'gone' }), node: adopted(facts), observedAt, pods }),
        settings,
      );
    const stillReporting = { outcome: 'refused', reason: expect.stringContaining('still reports') };

    // 45 s without a renewal: past the Lease's 40 s, not yet NotReady (50 s).
    expect(gone({ leaseRenewedAt: later(0), ready: true }, later(45))).toMatchObject(
      stillReporting,
    );
    expect(gone({ leaseRenewedAt: later(0), ready: true }, later(51))).toMatchObject({
      outcome: 'remediate',
    });
    expect(gone({ ready: true }, later(0))).toMatchObject(stillReporting);
    expect(gone({ ready: false }, later(0))).toMatchObject({ outcome: 'remediate' });
    // A taint of ours on it, from before it was seen reporting, is lifted.
    expect(gone({ ready: true, taints: [outOfServiceTaint] }, later(0))).toMatchObject({
      ...stillReporting,
      liftTaint: { name: nodeName, uid: 'uid-node' },
    });
  });

  it('lifts our own taint from such a Node, and only from the Node observed', () => {
    const tainted = adopted({ leaseRenewedAt: later(30), taints: [outOfServiceTaint] });
    const theirs = adopted({
      leaseRenewedAt: later(30),
      taints: [{ ...outOfServiceTaint, value: 'nodeshutdown' }],
    });

    expect(planRemediation(observe({ node: tainted, diedAt }), settings)).toMatchObject({
      outcome: 'refused',
      liftTaint: { name: nodeName, uid: 'uid-node' },
    });
    expect(planRemediation(observe({ node: theirs, diedAt }), settings)).not.toHaveProperty(
      'liftTaint',
    );
  });

  it('names the Node observed in the taint, so a Node that takes the name later is not tainted', () => {
    const plan = planRemediation(observe({ node: adopted({}), diedAt }), settings);

    expect(plan).toMatchObject({ taintNode: nodeName, nodeUid: 'uid-node' });
  });
});

describe('attachmentsOfInstance', () => {
  it('leaves a VolumeAttachment under the node name that the attacher made for another instance', () => {
    const ours = attachment('va-ours');
    const newcomers: AttachmentFacts = {
      ...attachment('va-new'),
      nodeIdAnnotation: 'i-0fffffffffffffff0',
    };
    const unannotated: AttachmentFacts = { ...attachment('va-old') };
    delete (unannotated as { nodeIdAnnotation?: string }).nodeIdAnnotation;

    expect(
      attachmentsOfInstance([ours, newcomers, unannotated], instanceId, nodeName).map(
        (a) => a.name,
      ),
    ).toEqual(['va-ours', 'va-old']);
  });

  it('takes the VolumeAttachments of EKS Auto Mode’s EBS driver as the EBS CSI driver’s, and no other driver’s', () => {
    const autoMode: AttachmentFacts = {
      ...attachment('va-auto'),
      attacher: 'ebs.csi.eks.amazonaws.com',
    };
    const efs: AttachmentFacts = { ...attachment('va-efs'), attacher: 'efs.csi.aws.com' };

    expect(attachmentsOfInstance([autoMode, efs], instanceId, nodeName).map((a) => a.name)).toEqual(
      ['va-auto'],
    );
  });
});

describe('a refusal', () => {
  it.each([
    ['running', 'live-instance'],
    ['pending', 'live-instance'],
  ] as const)('of an instance EC2 reports %s names the rule %s', (state, rule) => {
    const plan = planRemediation(observe({ instance: instance({ state }) }), settings);

    expect(plan).toMatchObject({ outcome: 'refused', refusedBy: rule });
  });

  it('by the circuit breaker names it, so that no one matches on the reason text', () => {
    const plans = [
      planRemediation(
        observe({
          attachments: [{ attachment: attachment('va-a'), volumeId: volA }],
          volumesInEc2: [heldVolume(volA, '/dev/xvdba')],
        }),
        settings,
      ),
    ];

    const [guarded] = applyCircuitBreaker(plans, { maxActions: 1, maxDeadNodePercent: 100 }, []);

    expect(guarded).toMatchObject({ outcome: 'refused', refusedBy: 'circuit-breaker' });
  });
});
