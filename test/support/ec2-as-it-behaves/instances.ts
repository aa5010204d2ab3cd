/**
 * Instance states as EC2 shows them: stop and terminate take time (moto is told only at the
 * end), start passes `pending`, DescribeInstances lags behind, a terminated instance keeps no
 * network, the state transition reason names the time of the request. Every state reached is
 * kept, for the tests' EventBridge events.
 */
import type { ServerResponse } from 'node:http';
import type { InstanceState as ContractInstanceState } from '#functions/shared/contract/result-events.ts';
import {
  answerAction,
  answerAsUpstream,
  answerError,
  answerXml,
  filterValues,
  listParam,
  listParams,
  type Upstream,
  type UpstreamAnswer,
} from './query-api.ts';
import type { Delays, Ec2Timings } from './timings.ts';
import {
  at,
  buildXml,
  childrenOf,
  items,
  removeChild,
  setText,
  textOf,
  type XmlNode,
} from './xml-tree.ts';

/** EC2's states (the contract's, but `gone`, which is the remediator's word for no answer). */
export type InstanceState = Exclude<ContractInstanceState, 'gone'>;

/** One instance state EC2 reached (and would send an EventBridge event for). */
export interface Ec2Transition {
  readonly instanceId: string;
  readonly state: InstanceState;
  /** When EC2 entered the state (ms since the epoch). */
  readonly at: number;
}

const stateCodes: Record<InstanceState, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

interface InstanceHistory {
  /** States in order; the first is the state before this layer saw a change (at -Infinity). */
  readonly states: Array<{ readonly state: InstanceState; readonly at: number }>;
  reason: string;
  /** The call to moto that ends the current transition, when one is under way. */
  pending?: NodeJS.Timeout;
}

export type StateChange = 'StopInstances' | 'TerminateInstances' | 'StartInstances';

/** What one instance is, for the layer's own rules. */
export interface InstanceFacts {
  readonly state: InstanceState;
  readonly zone: string;
  readonly privateIp: string;
  readonly privateDnsName: string;
}

export class InstanceStates {
  private readonly histories = new Map<string, InstanceHistory>();

  private readonly upstream: Upstream;
  private readonly timings: Ec2Timings;
  private readonly delays: Delays;

  constructor(upstream: Upstream, timings: Ec2Timings, delays: Delays) {
    this.upstream = upstream;
    this.timings = timings;
    this.delays = delays;
  }

  /** The instances as EC2 itself has them now (no lag); moto's answer, for its errors. */
  async read(ids: readonly string[]): Promise<{
    answer: UpstreamAnswer;
    instances: Map<string, InstanceFacts>;
  }> {
    const answer = await this.upstream.call('DescribeInstances', listParams('InstanceId', ids));
    const instances = new Map<string, InstanceFacts>();
    for (const instance of instancesIn(answer.root)) {
      const id = textOf(instance, 'instanceId') ?? '';
      instances.set(id, {
        state: this.stateAt(id, motoState(instance), Date.now()),
        zone: textOf(instance, 'placement', 'availabilityZone') ?? '',
        privateIp: textOf(instance, 'privateIpAddress') ?? '',
        privateDnsName: textOf(instance, 'privateDnsName') ?? '',
      });
    }
    return { answer, instances };
  }

  /** Every state reached so far, with its time. */
  transitions(): Ec2Transition[] {
    const now = Date.now();
    return [...this.histories].flatMap(([instanceId, history]) =>
      history.states
        .filter((s) => Number.isFinite(s.at) && s.at <= now)
        .map((s) => ({ instanceId, state: s.state, at: s.at })),
    );
  }

  /** StopInstances, TerminateInstances, StartInstances: answered at once, done over time. */
  async change(params: URLSearchParams, res: ServerResponse, action: StateChange): Promise<void> {
    const ids = listParam(params, 'InstanceId');
    const { answer, instances } = await this.read(ids);
    if (answer.status >= 300) return answerAsUpstream(res, answer);
    const changes: Array<{ id: string; previous: InstanceState; current: InstanceState }> = [];
    for (const id of ids) {
      const previous = instances.get(id)?.state ?? 'running';
      const refusal = refusalOf(action, previous);
      if (refusal)
        return answerError(res, 'IncorrectInstanceState', `The instance '${id}' ${refusal}.`);
      const current = await this.begin(action, id, previous, params);
      changes.push({ id, previous, current });
    }
    const state = (s: InstanceState) => `<code>${stateCodes[s]}</code><name>${s}</name>`;
    answerAction(
      res,
      action,
      `<instancesSet>${changes
        .map(
          (c) =>
            `<item><instanceId>${c.id}</instanceId><currentState>${state(c.current)}</currentState>` +
            `<previousState>${state(c.previous)}</previousState></item>`,
        )
        .join('')}</instancesSet>`,
    );
  }

  /** DescribeInstances: moto's answer, with each instance as EC2 shows it `describeLagMs` late. */
  async describe(
    body: Buffer,
    headers: Record<string, string | string[] | undefined>,
    params: URLSearchParams,
    res: ServerResponse,
    touch: (instance: XmlNode) => void,
  ): Promise<void> {
    const answer = await this.upstream.pass(body, headers);
    if (!answer.root) return answerAsUpstream(res, answer);
    const wantedStates = filterValues(params, 'instance-state-name');
    const seen = Date.now() - this.timings.describeLagMs;
    for (const reservation of items(answer.root, 'reservationSet')) {
      const list = at(reservation, 'instancesSet');
      if (!list) continue;
      list.instancesSet = childrenOf(list).filter((instance) => {
        touch(instance);
        const id = textOf(instance, 'instanceId') ?? '';
        const history = this.histories.get(id);
        if (!history) return true;
        const state = this.stateAt(id, motoState(instance), seen);
        const stateElement = at(instance, 'instanceState');
        if (stateElement) {
          setText(stateElement, 'code', String(stateCodes[state]));
          setText(stateElement, 'name', state);
        }
        if (state !== 'running' && state !== 'pending') setText(instance, 'reason', history.reason);
        if (state === 'terminated') forgetNetwork(instance);
        return wantedStates === undefined || wantedStates.includes(state);
      });
    }
    answerXml(res, 200, buildXml([answer.root]));
  }

  /** The state the instance was in at `time`, or moto's when this layer changed nothing. */
  private stateAt(instanceId: string, moto: InstanceState, time: number): InstanceState {
    const history = this.histories.get(instanceId);
    return history?.states.filter((s) => s.at <= time).at(-1)?.state ?? moto;
  }

  private async begin(
    action: StateChange,
    id: string,
    previous: InstanceState,
    params: URLSearchParams,
  ): Promise<InstanceState> {
    const tellMoto =
      (action: string, extra: Record<string, string> = {}) =>
      async () => {
        const result = await this.upstream.call(action, { 'InstanceId.1': id, ...extra });
        if (result.status >= 300) throw new Error(result.body.toString('utf8'));
      };
    switch (action) {
      case 'TerminateInstances':
        if (previous === 'terminated' || previous === 'shutting-down') return previous;
        this.transition(
          id,
          previous,
          'shutting-down',
          'terminated',
          this.timings.shuttingDownMs,
          tellMoto(action),
        );
        return 'shutting-down';
      case 'StopInstances':
        if (previous === 'stopped' || previous === 'stopping') return previous;
        this.transition(
          id,
          previous,
          'stopping',
          'stopped',
          this.timings.stoppingMs,
          tellMoto(action, { Force: params.get('Force') ?? 'false' }),
        );
        return 'stopping';
      case 'StartInstances':
        // moto starts it at once; EC2 shows it pending first.
        await tellMoto(action)();
        this.transition(
          id,
          previous,
          'pending',
          'running',
          this.timings.pendingMs,
          async () => undefined,
        );
        return 'pending';
    }
  }

  private transition(
    instanceId: string,
    from: InstanceState,
    through: InstanceState,
    to: InstanceState,
    takesMs: number,
    finish: () => Promise<void>,
  ): void {
    const now = Date.now();
    const history = this.histories.get(instanceId) ?? {
      states: [{ state: from, at: Number.NEGATIVE_INFINITY }],
      reason: '',
    };
    this.histories.set(instanceId, history);
    if (history.pending) this.delays.cancel(history.pending);
    // A transition that was under way ends where it was: its later states never come.
    while ((history.states.at(-1)?.at ?? 0) > now) history.states.pop();
    history.states.push({ state: through, at: now }, { state: to, at: now + takesMs });
    if (to !== 'running') history.reason = `User initiated (${ec2ReasonTime(now)})`;
    history.pending = this.delays.after(takesMs, async () => {
      history.pending = undefined;
      await finish();
    });
  }
}

/** Why EC2 refuses the change from this state, if it does. */
function refusalOf(action: StateChange, state: InstanceState): string | undefined {
  if (action === 'StopInstances' && ['terminated', 'shutting-down', 'pending'].includes(state)) {
    return 'is not in a state from which it can be stopped';
  }
  if (action === 'StartInstances' && state !== 'stopped') {
    return 'is not in a state from which it can be started';
  }
  return undefined;
}

function instancesIn(root: XmlNode | undefined): XmlNode[] {
  return root ? items(root, 'reservationSet').flatMap((r) => items(r, 'instancesSet')) : [];
}

function motoState(instance: XmlNode): InstanceState {
  return (textOf(instance, 'instanceState', 'name') ?? 'running') as InstanceState;
}

/** What EC2 shows of a terminated instance's network: nothing. */
function forgetNetwork(instance: XmlNode): void {
  setText(instance, 'privateDnsName', '');
  setText(instance, 'dnsName', '');
  removeChild(instance, 'privateIpAddress');
  removeChild(instance, 'ipAddress');
  const interfaces = at(instance, 'networkInterfaceSet');
  if (interfaces) interfaces.networkInterfaceSet = [];
}

/** "2026-12-07 04:41:17 UTC": the time format of EC2's StateTransitionReason. */
function ec2ReasonTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
