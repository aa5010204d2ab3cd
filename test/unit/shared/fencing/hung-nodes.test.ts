import { describe, expect, it } from 'vitest';
import {
  type ClusterView,
  decideFences,
  type FenceRules,
  type HungNode,
  isHung,
  isSilent,
} from '#functions/shared/fencing/hung-nodes.ts';
import type { NodeFacts } from '#functions/shared/remediation/facts.ts';

const now = Date.parse('2026-12-07T10:00:00Z');
const minutes = (n: number) => n * 60_000;
const rules: FenceRules = { hungAfterMs: minutes(5), maxDeadNodePercent: 50, maxFences: 1 };
const calm: ClusterView = { nodes: 10, silent: 1, recentFences: 0 };

function hungNode(name: string, silentMinutes: number, more: Partial<NodeFacts> = {}): HungNode {
  const instanceId = `i-0${name.padStart(16, '0')}`;
  return {
    node: {
      name,
      providerId: `aws:///us-east-1a/${instanceId}`,
      taints: [],
      ready: false,
      leaseRenewedAt: now - minutes(silentMinutes),
      notReadySince: now - minutes(silentMinutes) + 50_000,
      ...more,
    },
    instance: { instanceId, state: 'running', tags: {} },
  };
}

describe('a hung node', () => {
  it('is a NotReady Node whose Lease has not been renewed for the fence time', () => {
    const { node } = hungNode('a', 6);

    expect(isHung(node, now, minutes(5))).toBe(true);
    expect(isHung(node, now, minutes(7))).toBe(false);
  });

  it('is never a Node that reports Ready, however old its Lease', () => {
    const { node } = hungNode('a', 60, { ready: true });

    expect(isHung(node, now, minutes(5))).toBe(false);
  });

  it('is never a NotReady Node whose kubelet renews its Lease (it reports NotReady itself)', () => {
    const { node } = hungNode('a', 0.1);

    expect(isHung(node, now, minutes(5))).toBe(false);
  });

  it('is never judged without a Lease, or without a Ready condition', () => {
    const noLease = { ...hungNode('a', 60).node, leaseRenewedAt: undefined };
    const noCondition = { ...hungNode('b', 60).node, ready: undefined };

    expect(isHung(noLease, now, minutes(5))).toBe(false);
    expect(isHung(noCondition, now, minutes(5))).toBe(false);
  });
});

describe('a silent kubelet (counted for the partition rule)', () => {
  it('is one whose Lease missed two renewals, before the Node is NotReady', () => {
    const ready = { name: 'a', taints: [], ready: true };

    expect(isSilent({ ...ready, leaseRenewedAt: now - 25_000 }, now)).toBe(true);
    expect(isSilent({ ...ready, leaseRenewedAt: now - 12_000 }, now)).toBe(false);
    expect(isSilent({ ...ready, ready: false }, now)).toBe(true);
  });
});

describe('which hung nodes are fenced', () => {
  it('fences one that breaks no rule', () => {
    const [decision] = decideFences([hungNode('a', 6)], calm, rules);

    expect(decision?.verdict).toEqual({ kind: 'fence' });
  });

  it('fences none when more Nodes than the dead-share limit are NotReady: a partition, not a node', () => {
    const hung = [hungNode('a', 6), hungNode('b', 6), hungNode('c', 6)];

    const decisions = decideFences(hung, { nodes: 4, silent: 3, recentFences: 0 }, rules);

    expect(decisions.map((d) => d.verdict)).toEqual(
      hung.map(() => ({
        kind: 'refused',
        rule: 'partition',
        reason: expect.stringContaining('3 of 4 Nodes are NotReady or silent at once'),
      })),
    );
  });

  it('fences up to the rate limit, the longest hung first, and refuses the rest', () => {
    const decisions = decideFences([hungNode('a', 6), hungNode('b', 9)], calm, {
      ...rules,
      maxDeadNodePercent: 100,
    });

    expect(decisions.map((d) => [d.node.name, d.verdict.kind])).toEqual([
      ['b', 'fence'],
      ['a', 'refused'],
    ]);
    expect(decisions[1]?.verdict).toMatchObject({ rule: 'rate-limit' });
  });

  it('counts the fences of the window already done', () => {
    const [decision] = decideFences([hungNode('a', 6)], { ...calm, recentFences: 1 }, rules);

    expect(decision?.verdict).toMatchObject({ kind: 'refused', rule: 'rate-limit' });
  });

  it('never fences a control-plane Node, nor one that opted out', () => {
    const decisions = decideFences(
      [hungNode('cp', 8, { controlPlane: true }), hungNode('keep', 7, { fenceOptOut: true })],
      calm,
      { ...rules, maxFences: 5 },
    );

    expect(decisions.map((d) => d.verdict)).toMatchObject([
      { kind: 'refused', rule: 'control-plane' },
      { kind: 'refused', rule: 'opted-out' },
    ]);
  });

  it('leaves an instance EC2 no longer reports running to its own event', () => {
    const stopping = {
      ...hungNode('a', 6),
      instance: { ...hungNode('a', 6).instance, state: 'stopping' as const },
    };

    const [decision] = decideFences([stopping], calm, rules);

    expect(decision?.verdict).toMatchObject({
      kind: 'not-hung',
      reason: expect.stringContaining('EC2 reports the instance stopping'),
    });
  });
});
