import { describe, expect, it } from 'vitest';
import type { InstanceFacts } from '#functions/shared/remediation/facts.ts';
import {
  liftOutOfServiceTaints,
  planInstances,
  remediateInstances,
} from '#functions/shared/remediation/remediate.ts';
import { fakeEc2 } from '#support/fakes/fake-ec2.ts';
import { fakeKubernetes } from '#support/fakes/fake-kubernetes.ts';
import { CallLog } from '#support/fakes/recorder.ts';
import { unitTestSettings } from '#support/fakes/settings.ts';

const stranger: InstanceFacts = {
  instanceId: 'i-0123456789abcdef0',
  state: 'terminated',
  privateDnsName: 'ip-10-9-8-7.ec2.internal',
  tags: { 'kubernetes.io/cluster/another-cluster': 'owned' },
};

/** Ports that record every call, answering as for an instance of somebody else's. */
function countingPorts(instance: InstanceFacts) {
  const log = new CallLog();
  const ec2 = fakeEc2({ instances: [instance], log });
  const kube = fakeKubernetes({ log });
  return { ec2, kube, calls: log.apiCalls };
}

const settings = unitTestSettings;

describe('an event about an instance that is not the cluster’s', () => {
  it('is dismissed after one DescribeInstances and one Node read by name, before any list', async () => {
    const ports = countingPorts(stranger);

    const [report] = await remediateInstances([stranger.instanceId], ports, settings);

    expect(report).toMatchObject({
      outcome: 'skipped',
      reason: expect.stringContaining('not an instance of cluster prod'),
    });
    expect(ports.calls).toEqual(['ec2 DescribeInstances', 'kube get node']);
  });

  it('that says the instance runs costs the same: no list of Nodes to find a taint', async () => {
    const ports = countingPorts({ ...stranger, state: 'running' });

    const [report] = await liftOutOfServiceTaints([stranger.instanceId], ports, settings);

    expect(report).toMatchObject({ outcome: 'skipped' });
    expect(ports.calls).toEqual(['ec2 DescribeInstances', 'kube get node']);
  });
});

describe('an event’s instance, read from EC2 again alongside the dead Node’s pods', () => {
  const ours: InstanceFacts = {
    ...stranger,
    tags: { 'kubernetes.io/cluster/prod': 'owned' },
  };
  const node = {
    name: 'ip-10-9-8-7.ec2.internal',
    providerId: `aws:///us-east-1a/${ours.instanceId}`,
    taints: [],
  };
  // The cluster is this one Node: the circuit breaker's share of dead Nodes must allow it.
  const oneNodeCluster = { ...settings, maxDeadNodePercent: 100 };
  /** Ports whose DescribeInstances answers these states in turn, each stamped when answered. */
  function portsAnswering(...states: InstanceFacts['state'][]) {
    const ec2 = fakeEc2({ instances: [ours] });
    ec2.answerStates(ours.instanceId, ...states);
    const kube = fakeKubernetes({ nodes: [node] });
    return { ec2, kube, calls: () => ec2.log.count('describeInstances') };
  }

  it('plans on the later reading, which the taint can then rely on', async () => {
    const ports = portsAnswering('stopped', 'stopped');

    const [plan] = await planInstances([ours.instanceId], ports, oneNodeCluster);

    expect(ports.calls()).toBe(2);
    expect(plan).toMatchObject({ outcome: 'remediate', state: 'stopped', taintNode: node.name });
    expect(plan?.outcome === 'remediate' && plan.stateReadAt).toBeGreaterThan(0);
  });

  it('does not plan a taint for an instance that started again between the two readings', async () => {
    const ports = portsAnswering('stopped', 'running');

    const [plan] = await planInstances([ours.instanceId], ports, oneNodeCluster);

    expect(plan).toMatchObject({ outcome: 'refused', state: 'running' });
  });

  it('plans an instance that died between the readings on the first: its pods were not listed', async () => {
    const ports = portsAnswering('shutting-down', 'terminated');

    const [plan] = await planInstances([ours.instanceId], ports, oneNodeCluster);

    expect(plan).toMatchObject({ outcome: 'waiting', state: 'shutting-down' });
  });
});
