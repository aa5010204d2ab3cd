// The fence function's whole handling with fake ports: its inputs (the schedule, an alarm),
// the check, and what it reports (metrics, result events), as the Lambda entry runs it.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '#functions/shared/config.ts';
import type { FenceResultDetail } from '#functions/shared/contract/result-events.ts';
import { parseFenceInput } from '#functions/shared/events/registry.ts';
import { type HandlerDeps, handleInput } from '#functions/shared/handle-input.ts';
import type { NodeFacts } from '#functions/shared/remediation/facts.ts';
import { fakeEc2 } from '#support/fakes/fake-ec2.ts';
import { fakeFence } from '#support/fakes/fake-fence.ts';
import { fakeKubernetes } from '#support/fakes/fake-kubernetes.ts';
import { CallLog } from '#support/fakes/recorder.ts';
import { eventSample } from '#support/samples.ts';

const hungId = 'i-1234567890abcdef0';

/** Three Nodes, one hung for 6 minutes (its instance the one the alarm sample names). */
function world(settings: Record<string, string> = {}) {
  const log = new CallLog();
  const now = Date.now();
  const ids = [hungId, 'i-0000000000000000a', 'i-0000000000000000b'];
  const ec2 = fakeEc2({
    log,
    instances: ids.map((instanceId) => ({
      instanceId,
      state: 'running' as const,
      tags: { 'kubernetes.io/cluster/prod': 'owned' },
    })),
  });
  const nodes: NodeFacts[] = ids.map((id, i) => ({
    name: `node-${i}`,
    providerId: `aws:///us-east-1a/${id}`,
    taints: [],
    ready: i !== 0,
  }));
  const kube = fakeKubernetes({ log, nodes });
  kube.leases.set('node-0', now - 6 * 60_000);
  kube.leases.set('node-1', now);
  kube.leases.set('node-2', now);
  const metrics: string[] = [];
  const published: Array<{ detailType: string; detail: object }> = [];
  const deps: HandlerDeps = {
    config: loadConfig({
      CLUSTER_NAME: 'prod',
      KUBECONFIG: '/k',
      FENCE_HUNG_NODES: 'true',
      ...settings,
    }),
    ec2,
    fence: fakeFence(ec2),
    kubernetes: async () => kube,
    publishResults: async (events) => {
      published.push(...events);
      return 0;
    },
    logger: { info() {}, warn() {}, error() {} },
    metrics: {
      addMetric: (name: string) => {
        metrics.push(name);
      },
      singleMetric: () => ({
        addDimension: (key: string, value: string) => ({
          addMetric: (name: string) => {
            metrics.push(`${name} ${key}=${value}`);
          },
        }),
      }),
    } as unknown as HandlerDeps['metrics'],
  };
  return { ec2, kube, log, metrics, published, deps };
}

const scheduledTick = () => ({
  ...eventSample('scheduled-event.json'),
  time: new Date().toISOString(),
});
const fenceResults = (published: ReturnType<typeof world>['published']) =>
  published
    .filter((e) => e.detailType === 'EBS Volume Fence Result')
    .map((e) => e.detail as FenceResultDetail);

describe('the fence function', () => {
  it('on its schedule fences the hung node, then reports the fence and the recovery', async () => {
    const w = world();

    const result = await handleInput(scheduledTick(), parseFenceInput, w.deps);

    expect(result).toMatchObject({ status: 'fence-check', kind: 'schedule', dryRun: false });
    expect(w.ec2.instance(hungId).state).toBe('stopped');
    expect(fenceResults(w.published)).toMatchObject([
      {
        clusterName: 'prod',
        trigger: { kind: 'schedule' },
        instanceId: hungId,
        outcome: 'fenced',
        evidence: { instanceState: 'running', statusChecks: { system: 'ok' } },
        recovery: { outcome: 'remediated' },
      },
    ]);
    expect(w.published.map((e) => e.detailType)).toContain('EBS Volume Remediation Result');
    expect(w.metrics).toContain('InstancesFenced');
    // On the Node, where an operator looks: the fence, then the recovery of a stopped node.
    const onNode = w.kube.events.filter((e) => e.regarding.name === 'node-0');
    expect(onNode.map((e) => [e.reason, e.type]).sort()).toEqual([
      ['InstanceStopped', 'Normal'],
      ['NodeFenced', 'Warning'],
      ['OutOfServiceTaintApplied', 'Normal'],
    ]);
    expect(onNode.find((e) => e.reason === 'NodeFenced')?.eventTime).toBeLessThanOrEqual(
      onNode.find((e) => e.reason === 'InstanceStopped')?.eventTime ?? 0,
    );
  });

  it('counts a refusal for the alarm and by rule, and sends it with its rule', async () => {
    const w = world({ MAX_FENCES: '1' });
    // An instance of the cluster fenced a minute ago: the rate limit is reached.
    w.ec2.instances.set('i-0000000000000000c', {
      instanceId: 'i-0000000000000000c',
      state: 'stopped',
      tags: {
        'kubernetes.io/cluster/prod': 'owned',
        'ebs-volume-remediator/fenced-at': new Date(Date.now() - 60_000).toISOString(),
      },
    });

    await handleInput(scheduledTick(), parseFenceInput, w.deps);

    expect(w.ec2.instance(hungId).state).toBe('running');
    expect(fenceResults(w.published)).toMatchObject([
      { outcome: 'refused', refusedBy: 'rate-limit' },
    ]);
    expect(w.metrics).toEqual(
      expect.arrayContaining(['FencesRefused', 'FencesRefused Rule=rate-limit']),
    );
    expect(w.kube.events).toEqual([
      expect.objectContaining({
        regarding: expect.objectContaining({ kind: 'Node', name: 'node-0' }),
        reason: 'FenceRefused',
        type: 'Warning',
        note: expect.stringMatching(/^not fenced \(rate-limit\): /),
      }),
    ]);
  });

  it('judges the instance an alarm names at once, and in DRY_RUN only says it would fence', async () => {
    const w = world({ DRY_RUN: 'true' });

    const result = await handleInput(
      eventSample('cloudwatch-alarm-state-change.json'),
      parseFenceInput,
      w.deps,
    );

    expect(result).toMatchObject({ status: 'fence-check', kind: 'cloudwatch-alarm', dryRun: true });
    expect(fenceResults(w.published)).toMatchObject([{ instanceId: hungId, outcome: 'dry-run' }]);
    expect(w.ec2.instance(hungId).state).toBe('running');
    expect(w.log.count('markFenced') + w.log.count('fence')).toBe(0);
    expect(w.kube.events).toEqual([]);
  });
});
