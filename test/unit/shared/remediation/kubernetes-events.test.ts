// What a remediation tells operators, handled end to end with fake ports as node-loss handles an
// EC2 event: the Kubernetes Events `kubectl describe` shows on the Node, the pods and the
// VolumeAttachment afterwards (Events never cost the remediation anything), and the time to
// recover of each evicted pod, followed to its replacement.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '#functions/shared/config.ts';
import { metricNames } from '#functions/shared/contract/metric-names.ts';
import { parseNodeLossInput, parseSweepInput } from '#functions/shared/events/registry.ts';
import { type HandlerDeps, handleInput } from '#functions/shared/handle-input.ts';
import { fakeEc2 } from '#support/fakes/fake-ec2.ts';
import { fakeKubernetes } from '#support/fakes/fake-kubernetes.ts';
import { eventSample } from '#support/samples.ts';

const instanceId = 'i-1234567890abcdef0';
const nodeName = 'ip-10-0-0-1.ec2.internal';
const volumeId = 'vol-0123456789abcdef0';

/** A terminated instance of cluster prod, its Node, its pod (evicted) and its volume. */
function world(settings: Record<string, string> = {}) {
  const ec2 = fakeEc2({
    instances: [
      {
        instanceId,
        state: 'terminated',
        privateDnsName: nodeName,
        stateReasonCode: 'Client.UserInitiatedShutdown',
        tags: { 'kubernetes.io/cluster/prod': 'owned' },
      },
    ],
    volumes: [
      {
        volumeId,
        tags: {},
        attachments: [{ instanceId, device: '/dev/xvdba', state: 'attached' }],
      },
    ],
  });
  const kube = fakeKubernetes({
    nodes: [
      {
        name: nodeName,
        uid: 'node-uid',
        providerId: `aws:///us-east-1a/${instanceId}`,
        taints: [],
      },
      // Enough live Nodes for the circuit breaker's share of dead ones.
      ...['b', 'c', 'd'].map((n) => ({ name: `node-${n}`, taints: [], ready: true })),
    ],
    pods: [
      {
        namespace: 'shop',
        name: 'db-0',
        uid: 'pod-uid',
        deleting: true,
        evictedByTaintManager: true,
        tolerations: [],
        claims: ['data-db-0'],
        inlineVolumeIds: [],
        nodeName,
      },
    ],
    attachments: [
      {
        name: 'csi-0aaa',
        uid: 'va-uid',
        attacher: 'ebs.csi.aws.com',
        nodeName,
        persistentVolumeName: 'pv-0aaa',
        deleting: false,
        finalizers: [],
      },
    ],
  });
  kube.persistentVolumes.set('pv-0aaa', {
    name: 'pv-0aaa',
    volumeReference: volumeId,
    claim: 'shop/data-db-0',
  });
  const metrics: string[] = [];
  const warnings: string[] = [];
  const deps: HandlerDeps = {
    config: loadConfig({
      CLUSTER_NAME: 'prod',
      KUBECONFIG: '/k',
      CONTROLLER_GRACE_SECONDS: '0.01',
      EVICTION_GRACE_SECONDS: '0.01',
      ATTACHER_GRACE_SECONDS: '0.01',
      RECOVERY_WATCH_SECONDS: '0',
      ...settings,
    }),
    ec2,
    kubernetes: async () => kube,
    reportingInstance: 'node-loss-fn',
    logger: {
      info() {},
      warn: (message: string) => {
        warnings.push(message);
      },
      error() {},
    },
    metrics: {
      addMetric: (name: string) => {
        metrics.push(name);
      },
      singleMetric: () => ({
        addDimension: () => ({ addMetric() {} }),
      }),
    } as unknown as HandlerDeps['metrics'],
  };
  return { ec2, kube, deps, metrics, warnings };
}

/** The terminated event, sent `secondsAgo` after EC2's transition (its `time`). */
const terminated = (secondsAgo = 0) => ({
  ...eventSample('ec2-instance-state-change-terminated.json'),
  time: new Date(Date.now() - secondsAgo * 1000).toISOString(),
});

/**
 * The StatefulSet makes the replacement (same name, new uid) on another Node a moment after the
 * old pod is deleted, as `later` says: Running, unschedulable, or not at all.
 */
function replaceOnDelete(
  kube: ReturnType<typeof world>['kube'],
  later: 'running' | 'unschedulable',
) {
  kube.log.listen((call) => {
    if (call.method !== 'deletePod') return;
    setTimeout(() => {
      kube.pods.push({
        namespace: 'shop',
        name: 'db-0',
        uid: 'replacement-uid',
        deleting: false,
        evictedByTaintManager: false,
        tolerations: [],
        claims: ['data-db-0'],
        inlineVolumeIds: [],
        owner: { kind: 'StatefulSet', uid: 'sts-uid' },
        ...(later === 'running'
          ? { nodeName: 'node-b', phase: 'Running', runningSince: Date.now() }
          : {
              nodeName: '',
              phase: 'Pending',
              unschedulable: '0/4 nodes are available: 1 node(s) had volume node affinity conflict',
            }),
      });
    }, 300);
  });
}

/**
 * The Events on one object, as `kubectl describe` selects them (kind, uid) and orders them (by
 * time; Events of one millisecond in the order written).
 */
const eventsOn = (kube: ReturnType<typeof world>['kube'], kind: string, uid: string) =>
  kube.events
    .filter((e) => e.regarding.kind === kind && e.regarding.uid === uid)
    .sort((a, b) => a.eventTime - b.eventTime);

describe('after a remediation, the objects acted on', () => {
  it('carry Events that say what was done and on what evidence', async () => {
    const { kube, deps } = world({ RECOVERY_WATCH_SECONDS: '5' });
    replaceOnDelete(kube, 'running');

    const result = await handleInput(terminated(), parseNodeLossInput, deps);

    expect(result).toMatchObject({ status: 'done', instances: [{ outcome: 'remediated' }] });
    const onNode = eventsOn(kube, 'Node', 'node-uid');
    expect(onNode.map((e) => e.reason).sort()).toEqual([
      'InstanceTerminated',
      'OutOfServiceTaintApplied',
    ]);
    // The evidence is dated before the acts it led to, though written after them.
    const [evidence, taint] = ['InstanceTerminated', 'OutOfServiceTaintApplied'].map((reason) =>
      onNode.find((e) => e.reason === reason),
    );
    expect(evidence?.eventTime).toBeLessThanOrEqual(taint?.eventTime ?? 0);
    expect(evidence?.note).toBe(
      `EC2 reports instance ${instanceId} terminated (Client.UserInitiatedShutdown): releasing its volumes`,
    );
    const [onPod] = eventsOn(kube, 'Pod', 'pod-uid');
    expect(onPod).toMatchObject({
      reason: 'PodForceDeleted',
      action: 'DeletePod',
      type: 'Normal',
      regarding: { namespace: 'shop', name: 'db-0' },
      note: expect.stringContaining("the taint-eviction controller's own delete had landed"),
    });
    expect(eventsOn(kube, 'VolumeAttachment', 'va-uid').map((e) => e.reason)).toEqual([
      'VolumeDetached',
      'VolumeAttachmentDeleted',
    ]);
    expect(eventsOn(kube, 'Pod', 'replacement-uid')).toEqual([
      expect.objectContaining({
        reason: 'PodRecovered',
        note: expect.stringMatching(
          new RegExp(
            `^replaces shop/db-0, .*: Running on node-b, [0-9.]+ s after instance ${instanceId} was terminated$`,
          ),
        ),
      }),
    ]);
    expect(new Set(kube.events.map((e) => e.reportingInstance))).toEqual(new Set(['node-loss-fn']));
  });

  it('are not written again by a replayed event, which finds everything done', async () => {
    const { kube, deps } = world();
    await handleInput(terminated(), parseNodeLossInput, deps);
    const written = kube.events.length;

    const replay = await handleInput(terminated(), parseNodeLossInput, deps);

    expect(replay).toMatchObject({ status: 'done', instances: [{ outcome: 'nothing-to-do' }] });
    expect(kube.events).toHaveLength(written);
  });

  it('carry none in a dry-run', async () => {
    const { kube, deps } = world({ DRY_RUN: 'true' });

    const result = await handleInput(terminated(), parseNodeLossInput, deps);

    expect(result).toMatchObject({ status: 'done', instances: [{ outcome: 'dry-run' }] });
    expect(kube.events).toEqual([]);
    expect(kube.log.count('createEvent')).toBe(0);
  });

  it('whose Events cannot be written are still remediated: the failure is logged and counted', async () => {
    const { kube, deps, metrics, warnings } = world();
    for (let i = 0; i < 10; i++) kube.log.failNext('createEvent', new Error('forbidden'));

    const result = await handleInput(terminated(), parseNodeLossInput, deps);

    expect(result).toMatchObject({ status: 'done', instances: [{ outcome: 'remediated' }] });
    expect(kube.nodes.find((n) => n.name === nodeName)?.taints).toHaveLength(1);
    expect(kube.pods).toEqual([]);
    expect(metrics).toContain(metricNames.kubernetesEventFailures);
    expect(warnings).toContain('kubernetes events not written');
  });
});

describe('a refusal', () => {
  it('is written on the Node as a Warning that names the rule', async () => {
    // Every other Node NotReady too: the circuit breaker refuses.
    const { kube, deps } = world();
    for (const [i, node] of kube.nodes.entries()) kube.nodes[i] = { ...node, ready: false };

    const result = await handleInput(terminated(), parseNodeLossInput, deps);

    expect(result).toMatchObject({ status: 'done', instances: [{ outcome: 'refused' }] });
    expect(eventsOn(kube, 'Node', 'node-uid')).toEqual([
      expect.objectContaining({
        reason: 'RemediationRefused',
        type: 'Warning',
        note: expect.stringMatching(/^refused \(circuit-breaker\): circuit breaker: 100% /),
      }),
    ]);
  });

  it('of a whole sweep by the circuit breaker is written on each Node it held back', async () => {
    const { kube, deps } = world();
    for (const [i, node] of kube.nodes.entries()) kube.nodes[i] = { ...node, ready: false };

    const result = await handleInput({ action: 'sweep' }, parseSweepInput, deps);

    expect(result).toMatchObject({
      status: 'swept',
      sweep: { instances: [{ outcome: 'refused', refusedBy: 'circuit-breaker' }] },
    });
    expect(kube.attachments.map((a) => a.name)).toEqual(['csi-0aaa']);
    expect(eventsOn(kube, 'Node', 'node-uid')).toEqual([
      expect.objectContaining({
        reason: 'RemediationRefused',
        type: 'Warning',
        note: expect.stringMatching(/^refused \(circuit-breaker\): circuit breaker: /),
      }),
    ]);
  });
});

describe('an evicted pod that uses a volume', () => {
  it('is followed to its replacement Running, and its time to recover counted from the event', async () => {
    const { kube, deps, metrics } = world({ RECOVERY_WATCH_SECONDS: '5' });
    replaceOnDelete(kube, 'running');

    // EC2's transition 4 s before the event reached the function.
    const event = terminated(4);
    const terminatedAt = event.time;
    const result = await handleInput(event, parseNodeLossInput, deps);

    const [report] = result.status === 'done' ? result.instances : [];
    expect(report?.recoveries).toEqual([
      {
        pod: 'shop/db-0',
        outcome: 'recovered',
        replacement: 'shop/db-0',
        node: 'node-b',
        runningAt: expect.any(String),
        diedAt: new Date(Date.parse(terminatedAt)).toISOString(),
        secondsToRecover: expect.any(Number),
      },
    ]);
    // The replacement came 0.3 s after the delete, itself a moment after the event.
    const seconds = report?.recoveries?.[0]?.secondsToRecover ?? 0;
    expect(seconds).toBeGreaterThanOrEqual(4.3);
    expect(seconds).toBeLessThan(5.5);
    expect(metrics).toContain(metricNames.timeToRecover);
  });

  it('counts its time to recover from when EC2 says the termination was asked for, where it says', async () => {
    const { ec2, kube, deps } = world({ RECOVERY_WATCH_SECONDS: '5' });
    const instance = ec2.instance(instanceId);
    const askedAt = Math.floor(Date.now() / 1000) * 1000 - 30_000;
    ec2.instances.set(instanceId, { ...instance, stateChangeRequestedAt: askedAt });
    replaceOnDelete(kube, 'running');

    const result = await handleInput(terminated(4), parseNodeLossInput, deps);

    const [report] = result.status === 'done' ? result.instances : [];
    const [recovery] = report?.recoveries ?? [];
    expect(recovery?.diedAt).toBe(new Date(askedAt).toISOString());
    expect(recovery?.secondsToRecover).toBeGreaterThanOrEqual(30);
  });

  it('whose replacement does not come by the end of the watch is reported with what it waits on', async () => {
    const { kube, deps, metrics } = world({ RECOVERY_WATCH_SECONDS: '1' });

    const result = await handleInput(terminated(), parseNodeLossInput, deps);

    const [report] = result.status === 'done' ? result.instances : [];
    expect(report?.outcome).toBe('remediated');
    expect(report?.recoveries).toEqual([
      {
        pod: 'shop/db-0',
        outcome: 'not-recovered-yet',
        waitingOn: 'no replacement pod yet: its controller has not made one',
      },
    ]);
    expect(eventsOn(kube, 'Pod', 'pod-uid').map((e) => [e.reason, e.type])).toEqual([
      ['PodForceDeleted', 'Normal'],
      ['PodNotRecoveredYet', 'Warning'],
    ]);
    expect(metrics).toContain(metricNames.podsNotRecovered);
  });

  it('whose replacement cannot be scheduled is reported at once, without waiting out the watch', async () => {
    const { kube, deps } = world({ RECOVERY_WATCH_SECONDS: '600' });
    replaceOnDelete(kube, 'unschedulable');

    const started = Date.now();
    const result = await handleInput(terminated(), parseNodeLossInput, deps);

    const [report] = result.status === 'done' ? result.instances : [];
    expect(report?.recoveries).toEqual([
      {
        pod: 'shop/db-0',
        outcome: 'not-recovered-yet',
        replacement: 'shop/db-0',
        waitingOn:
          'unschedulable: 0/4 nodes are available: 1 node(s) had volume node affinity conflict',
      },
    ]);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('is not followed in a dry-run, nor with RECOVERY_WATCH_SECONDS=0', async () => {
    const dry = world({ RECOVERY_WATCH_SECONDS: '5', DRY_RUN: 'true' });
    const off = world({ RECOVERY_WATCH_SECONDS: '0' });

    const results = [
      await handleInput(terminated(), parseNodeLossInput, dry.deps),
      await handleInput(terminated(), parseNodeLossInput, off.deps),
    ];

    for (const result of results) {
      expect(result.status === 'done' && result.instances[0]?.recoveries).toBeUndefined();
    }
    expect(dry.kube.log.count('readPod') + off.kube.log.count('readPod')).toBe(0);
  });
});
