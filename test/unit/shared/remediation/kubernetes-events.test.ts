// The Kubernetes Events a remediation writes, handled end to end with fake ports as node-loss
// handles an EC2 event: what `kubectl describe` shows on the Node, the pod and the
// VolumeAttachment afterwards, and that Events never cost the remediation anything.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '#functions/shared/config.ts';
import { metricNames } from '#functions/shared/contract/metric-names.ts';
import { parseNodeLossInput } from '#functions/shared/events/registry.ts';
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
  return { kube, deps, metrics, warnings };
}

const terminated = () => eventSample('ec2-instance-state-change-terminated.json');

/** The Events on one object, as `kubectl describe` selects them (kind, name, uid). */
const eventsOn = (kube: ReturnType<typeof world>['kube'], kind: string, uid: string) =>
  kube.events.filter((e) => e.regarding.kind === kind && e.regarding.uid === uid);

describe('after a remediation, the objects acted on', () => {
  it('carry Events that say what was done and on what evidence', async () => {
    const { kube, deps } = world();

    const result = await handleInput(terminated(), parseNodeLossInput, deps);

    expect(result).toMatchObject({ status: 'done', instances: [{ outcome: 'remediated' }] });
    const onNode = eventsOn(kube, 'Node', 'node-uid');
    expect(onNode.map((e) => e.reason)).toEqual(['InstanceTerminated', 'OutOfServiceTaintApplied']);
    expect(onNode[0]?.note).toBe(
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
    expect(new Set(kube.events.map((e) => e.reportingInstance))).toEqual(new Set(['node-loss-fn']));
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
});
