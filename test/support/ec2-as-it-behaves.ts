/**
 * EC2 as it behaves, in front of moto: what moto 5.2.1 does at once or never, this layer does the
 * way EC2 does (test-environment.md, "What moto does not do"). Every EC2 client of the
 * control-plane tests, the demo and the benchmarks goes through it (the remediator, the EBS CSI
 * driver, the simulated kubelets, the cloud node lifecycle); other AWS services pass through.
 *
 * - StopInstances and TerminateInstances answer `stopping` / `shutting-down` and take
 *   `stoppingMs` / `shuttingDownMs` to reach `stopped` / `terminated`: only then is moto told
 *   (so the volumes stay attached meanwhile, as on EC2). StartInstances passes `pending`.
 *   Every state, with its time, is kept for the tests' EventBridge events (`/__ec2/transitions`).
 * - DescribeInstances is eventually consistent: it shows the state as it was `describeLagMs`
 *   ago.
 * - A terminated instance has no private DNS name, private IP or network interface.
 * - StateTransitionReason is "User initiated (<time of the request>)", as EC2 writes it.
 * - AttachVolume passes through `attaching` for `attachingMs`, DetachVolume through `detaching`
 *   for `detachingMs` (the volume stays attached in moto meanwhile, so it is still in use).
 * - AttachVolume enforces what moto skips: a volume in use elsewhere (`VolumeInUse`), another
 *   zone (`InvalidVolume.ZoneMismatch`), an instance neither running nor stopped
 *   (`IncorrectInstanceState`); DetachVolume of a volume attached nowhere is `IncorrectState`
 *   (moto answers HTTP 500).
 * - Every AttachVolume and DetachVolume is appended to a JSON-lines log (`Ec2LogEntry`), so
 *   tests and benchmarks count re-attachments to a dead instance whoever made them.
 * - A new instance may get the private IP, and so the DNS name, of one terminated before it
 *   (EC2 reuses released addresses): after `POST /__ec2/reuse-address {"from": "<terminated id>"}`
 *   the next RunInstances gives its instance that address.
 *
 * Not covered: instances Auto Scaling terminates inside moto (they never pass through here) and
 * DescribeInstances filters other than `instance-state-name` on what this layer rewrote.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { readBody } from './http-body.ts';
import {
  at,
  buildXml,
  childrenOf,
  items,
  parseXml,
  removeChild,
  rootOf,
  setText,
  textOf,
  type XmlNode,
} from './xml-tree.ts';

/** How long EC2 takes, in milliseconds. Zero everywhere is moto as it is. */
export interface Ec2Timings {
  readonly pendingMs: number;
  readonly stoppingMs: number;
  readonly shuttingDownMs: number;
  readonly describeLagMs: number;
  readonly attachingMs: number;
  readonly detachingMs: number;
}

/**
 * The timings the control-plane tests, the demo and the benchmarks run with: the quick end of
 * what EC2 shows, so the suite stays within its time and every transition is still seen.
 * Sources: EC2 User Guide, "Instance state changes" (pending, stopping and shutting-down last
 * seconds to minutes); EC2 API Reference, "Eventual consistency" (a few seconds); EBS User
 * Guide, "Attach a volume" / "Detach a volume" (attaching and detaching last seconds; the CSI
 * driver's own polling starts at 1 s for that reason). Each can be set with an environment
 * variable (`EC2_PENDING_SECONDS`, `EC2_STOPPING_SECONDS`, `EC2_SHUTTING_DOWN_SECONDS`,
 * `EC2_DESCRIBE_LAG_SECONDS`, `EC2_ATTACHING_SECONDS`, `EC2_DETACHING_SECONDS`).
 */
export const ec2Timings: Ec2Timings = {
  pendingMs: secondsFromEnvironment('EC2_PENDING_SECONDS', 5),
  stoppingMs: secondsFromEnvironment('EC2_STOPPING_SECONDS', 8),
  shuttingDownMs: secondsFromEnvironment('EC2_SHUTTING_DOWN_SECONDS', 8),
  describeLagMs: secondsFromEnvironment('EC2_DESCRIBE_LAG_SECONDS', 2),
  attachingMs: secondsFromEnvironment('EC2_ATTACHING_SECONDS', 2),
  detachingMs: secondsFromEnvironment('EC2_DETACHING_SECONDS', 4),
};

function secondsFromEnvironment(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback * 1000;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`${name} must be a number of seconds (0 or more), got ${JSON.stringify(raw)}`);
  }
  return seconds * 1000;
}

/** One line of the attach/detach log. */
export interface Ec2LogEntry {
  readonly time: string;
  readonly action: 'attach' | 'detach';
  readonly volumeId: string;
  readonly instanceId: string;
  /** The instance's state in EC2 when the call was made. */
  readonly instanceState: string;
}

/** Every attach and detach made through the layer so far, from its log. */
export function readEc2Log(path: string): Ec2LogEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Ec2LogEntry);
}

/** One instance state EC2 reached (and would send an EventBridge event for). */
export interface Ec2Transition {
  readonly instanceId: string;
  readonly state: InstanceState;
  /** When EC2 entered the state (ms since the epoch). */
  readonly at: number;
}

export const transitionsPath = '/__ec2/transitions';
export const reuseAddressPath = '/__ec2/reuse-address';

interface PrivateAddress {
  readonly ip: string;
  readonly dnsName: string;
}

type InstanceState =
  | 'pending'
  | 'running'
  | 'stopping'
  | 'stopped'
  | 'shutting-down'
  | 'terminated';

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

interface PendingVolumeChange {
  readonly instanceId: string;
  readonly status: 'attaching' | 'detaching';
  readonly until: number;
}

export interface RunningEc2Layer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

const ec2Namespace = 'http://ec2.amazonaws.com/doc/2016-11-15/';

/** Starts the layer on a free loopback port in front of `upstream` (moto, or a stand-in). */
export async function startEc2AsItBehaves(options: {
  readonly upstream: string;
  /** The JSON-lines file every AttachVolume and DetachVolume is appended to. */
  readonly attachmentLog: string;
  readonly timings?: Ec2Timings;
}): Promise<RunningEc2Layer> {
  const timings = options.timings ?? ec2Timings;
  const upstream = new URL(options.upstream);
  const instances = new Map<string, InstanceHistory>();
  const volumeChanges = new Map<string, PendingVolumeChange>();
  const timers = new Set<NodeJS.Timeout>();
  /** Instances given a terminated instance's address, and the address the next one gets. */
  const reusedAddresses = new Map<string, PrivateAddress>();
  let nextAddress: PrivateAddress | undefined;

  const later = (ms: number, work: () => Promise<void>) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      work().catch((error: unknown) => {
        process.stderr.write(`EC2 layer: a delayed call to moto failed: ${String(error)}\n`);
      });
    }, ms);
    timers.add(timer);
    return timer;
  };

  /** Sends one EC2 call of the layer's own to moto and returns the parsed answer's root. */
  const callUpstream = async (params: Record<string, string>) => {
    const answer = await send(upstream, Buffer.from(new URLSearchParams(params).toString()), {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      authorization: unsignedEc2Authorization(),
    });
    return {
      status: answer.status,
      body: answer.body,
      root: rootOf(parseXml(answer.body.toString('utf8'))),
    };
  };

  /** The state EC2 itself is in now (no lag), or moto's when this layer changed nothing. */
  const trueState = (instanceId: string, motoState: InstanceState): InstanceState => {
    const history = instances.get(instanceId);
    if (!history) return motoState;
    const now = Date.now();
    return history.states.filter((s) => s.at <= now).at(-1)?.state ?? motoState;
  };

  /** The state DescribeInstances shows: EC2's state `describeLagMs` ago. */
  const shownState = (instanceId: string, motoState: InstanceState): InstanceState => {
    const history = instances.get(instanceId);
    if (!history) return motoState;
    const seen = Date.now() - timings.describeLagMs;
    return history.states.filter((s) => s.at <= seen).at(-1)?.state ?? motoState;
  };

  const transition = (
    instanceId: string,
    from: InstanceState,
    through: InstanceState,
    to: InstanceState,
    takesMs: number,
    finish: () => Promise<void>,
  ) => {
    const now = Date.now();
    const history = instances.get(instanceId) ?? {
      states: [{ state: from, at: Number.NEGATIVE_INFINITY }],
      reason: '',
    };
    instances.set(instanceId, history);
    if (history.pending) {
      clearTimeout(history.pending);
      timers.delete(history.pending);
    }
    // A transition that was under way ends where it was: its later states never come.
    while ((history.states.at(-1)?.at ?? 0) > now) history.states.pop();
    history.states.push({ state: through, at: now }, { state: to, at: now + takesMs });
    if (to !== 'running') history.reason = `User initiated (${ec2ReasonTime(now)})`;
    history.pending = later(takesMs, async () => {
      history.pending = undefined;
      await finish();
    });
  };

  const describeInstanceStates = async (ids: string[]) => {
    const params: Record<string, string> = { Action: 'DescribeInstances', Version: '2016-11-15' };
    ids.forEach((id, i) => {
      params[`InstanceId.${i + 1}`] = id;
    });
    const answer = await callUpstream(params);
    const states = new Map<string, { state: InstanceState; zone: string }>();
    if (answer.status >= 300 || !answer.root) return { answer, states };
    for (const reservation of items(answer.root, 'reservationSet')) {
      for (const instance of items(reservation, 'instancesSet')) {
        const id = textOf(instance, 'instanceId') ?? '';
        const motoState = (textOf(instance, 'instanceState', 'name') ?? 'running') as InstanceState;
        states.set(id, {
          state: trueState(id, motoState),
          zone: textOf(instance, 'placement', 'availabilityZone') ?? '',
        });
      }
    }
    return { answer, states };
  };

  const changeStates = async (
    params: URLSearchParams,
    res: ServerResponse,
    action: 'StopInstances' | 'TerminateInstances' | 'StartInstances',
  ) => {
    const ids = listParam(params, 'InstanceId');
    const { answer, states } = await describeInstanceStates(ids);
    if (answer.status >= 300) return sendXml(res, answer.status, answer.body.toString('utf8'));
    const changes: Array<{ id: string; previous: InstanceState; current: InstanceState }> = [];
    for (const id of ids) {
      const previous = states.get(id)?.state ?? 'running';
      const moto = (extra: Record<string, string>) => async () => {
        const result = await callUpstream({ Version: '2016-11-15', 'InstanceId.1': id, ...extra });
        if (result.status >= 300) throw new Error(result.body.toString('utf8'));
      };
      if (action === 'TerminateInstances') {
        if (previous === 'terminated' || previous === 'shutting-down') {
          changes.push({ id, previous, current: previous });
          continue;
        }
        transition(
          id,
          previous,
          'shutting-down',
          'terminated',
          timings.shuttingDownMs,
          moto({ Action: 'TerminateInstances' }),
        );
        changes.push({ id, previous, current: 'shutting-down' });
      } else if (action === 'StopInstances') {
        if (previous === 'terminated' || previous === 'shutting-down' || previous === 'pending') {
          return ec2Error(
            res,
            'IncorrectInstanceState',
            `This instance '${id}' is not in a state from which it can be stopped.`,
          );
        }
        if (previous === 'stopped' || previous === 'stopping') {
          changes.push({ id, previous, current: previous });
          continue;
        }
        transition(
          id,
          previous,
          'stopping',
          'stopped',
          timings.stoppingMs,
          moto({ Action: 'StopInstances', Force: params.get('Force') ?? 'false' }),
        );
        changes.push({ id, previous, current: 'stopping' });
      } else {
        if (previous !== 'stopped') {
          return ec2Error(
            res,
            'IncorrectInstanceState',
            `The instance '${id}' is not in a state from which it can be started.`,
          );
        }
        // moto starts it at once; EC2 shows it pending first.
        await moto({ Action: 'StartInstances' })();
        transition(id, previous, 'pending', 'running', timings.pendingMs, async () => undefined);
        changes.push({ id, previous, current: 'pending' });
      }
    }
    const item = (c: (typeof changes)[number]) =>
      `<item><instanceId>${c.id}</instanceId>` +
      `<currentState><code>${stateCodes[c.current]}</code><name>${c.current}</name></currentState>` +
      `<previousState><code>${stateCodes[c.previous]}</code><name>${c.previous}</name></previousState></item>`;
    sendXml(
      res,
      200,
      `<?xml version="1.0" encoding="UTF-8"?><${action}Response xmlns="${ec2Namespace}">` +
        `<requestId>${randomUUID()}</requestId><instancesSet>${changes.map(item).join('')}</instancesSet>` +
        `</${action}Response>`,
    );
  };

  const describeInstances = async (
    req: IncomingMessage,
    body: Buffer,
    params: URLSearchParams,
    res: ServerResponse,
  ) => {
    const answer = await send(upstream, body, req.headers);
    const root = answer.status < 300 ? rootOf(parseXml(answer.body.toString('utf8'))) : undefined;
    if (!root) return sendXml(res, answer.status, answer.body.toString('utf8'));
    const wantedStates = filterValues(params, 'instance-state-name');
    for (const reservation of items(root, 'reservationSet')) {
      const list = at(reservation, 'instancesSet');
      if (!list) continue;
      const kept = childrenOf(list).filter((instance) => {
        const id = textOf(instance, 'instanceId') ?? '';
        const address = reusedAddresses.get(id);
        if (address) giveAddress(instance, address);
        const history = instances.get(id);
        if (!history) return true;
        const motoState = (textOf(instance, 'instanceState', 'name') ?? 'running') as InstanceState;
        const state = shownState(id, motoState);
        const stateElement = at(instance, 'instanceState');
        if (stateElement) {
          setText(stateElement, 'code', String(stateCodes[state]));
          setText(stateElement, 'name', state);
        }
        if (state !== 'running' && state !== 'pending') setText(instance, 'reason', history.reason);
        if (state === 'terminated') forgetNetwork(instance);
        return wantedStates === undefined || wantedStates.includes(state);
      });
      list.instancesSet = kept;
    }
    sendXml(res, 200, buildXml([root]));
  };

  const describeVolume = async (volumeId: string) => {
    const answer = await callUpstream({
      Action: 'DescribeVolumes',
      Version: '2016-11-15',
      'VolumeId.1': volumeId,
    });
    const volume = answer.root ? items(answer.root, 'volumeSet')[0] : undefined;
    return {
      answer,
      zone: volume ? textOf(volume, 'availabilityZone') : undefined,
      attachedTo: volume
        ? items(volume, 'attachmentSet').map((a) => ({
            instanceId: textOf(a, 'instanceId') ?? '',
            device: textOf(a, 'device') ?? '',
            attachTime: textOf(a, 'attachTime') ?? '',
          }))
        : [],
    };
  };

  const log = (entry: Omit<Ec2LogEntry, 'time'>) => {
    appendFileSync(
      options.attachmentLog,
      `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`,
    );
  };

  const attachVolume = async (
    req: IncomingMessage,
    body: Buffer,
    params: URLSearchParams,
    res: ServerResponse,
  ) => {
    const volumeId = params.get('VolumeId') ?? '';
    const instanceId = params.get('InstanceId') ?? '';
    const volume = await describeVolume(volumeId);
    if (volume.answer.status >= 300)
      return sendXml(res, volume.answer.status, volume.answer.body.toString('utf8'));
    const instance = await describeInstanceStates([instanceId]);
    if (instance.answer.status >= 300) {
      return sendXml(res, instance.answer.status, instance.answer.body.toString('utf8'));
    }
    const { state, zone } = instance.states.get(instanceId) ?? { state: 'running', zone: '' };
    const holder = volume.attachedTo[0];
    if (holder) {
      return ec2Error(res, 'VolumeInUse', `${volumeId} is already attached to an instance`);
    }
    if (volume.zone && zone && volume.zone !== zone) {
      return ec2Error(
        res,
        'InvalidVolume.ZoneMismatch',
        `The volume '${volumeId}' is not in the same availability zone as instance '${instanceId}'`,
      );
    }
    if (state !== 'running' && state !== 'stopped') {
      return ec2Error(res, 'IncorrectInstanceState', `Instance '${instanceId}' is not 'running'.`);
    }
    log({ action: 'attach', volumeId, instanceId, instanceState: state });
    const answer = await send(upstream, body, req.headers);
    if (answer.status < 300) {
      volumeChanges.set(volumeId, {
        instanceId,
        status: 'attaching',
        until: Date.now() + timings.attachingMs,
      });
    }
    sendXml(res, answer.status, answer.body.toString('utf8'));
  };

  const detachVolume = async (params: URLSearchParams, res: ServerResponse) => {
    const volumeId = params.get('VolumeId') ?? '';
    const asked = params.get('InstanceId') ?? undefined;
    const volume = await describeVolume(volumeId);
    if (volume.answer.status >= 300)
      return sendXml(res, volume.answer.status, volume.answer.body.toString('utf8'));
    const attachment = volume.attachedTo.find((a) => asked === undefined || a.instanceId === asked);
    if (!attachment) {
      return asked === undefined
        ? ec2Error(res, 'IncorrectState', `Volume '${volumeId}' is in the 'available' state.`)
        : ec2Error(
            res,
            'InvalidAttachment.NotFound',
            `Volume ${volumeId} can not be detached from ${asked} because it is not attached`,
          );
    }
    const change = volumeChanges.get(volumeId);
    if (change?.status !== 'detaching') {
      const instance = await describeInstanceStates([attachment.instanceId]);
      log({
        action: 'detach',
        volumeId,
        instanceId: attachment.instanceId,
        instanceState: instance.states.get(attachment.instanceId)?.state ?? 'unknown',
      });
      volumeChanges.set(volumeId, {
        instanceId: attachment.instanceId,
        status: 'detaching',
        until: Date.now() + timings.detachingMs,
      });
      later(timings.detachingMs, async () => {
        const result = await callUpstream({
          Action: 'DetachVolume',
          Version: '2016-11-15',
          VolumeId: volumeId,
          InstanceId: attachment.instanceId,
          Force: 'true',
        });
        volumeChanges.delete(volumeId);
        // Gone already (the instance was terminated meanwhile): nothing left to detach.
        if (result.status >= 300 && !result.body.includes('InvalidAttachment.NotFound')) {
          throw new Error(result.body.toString('utf8'));
        }
      });
    }
    sendXml(
      res,
      200,
      `<?xml version="1.0" encoding="UTF-8"?><DetachVolumeResponse xmlns="${ec2Namespace}">` +
        `<requestId>${randomUUID()}</requestId><volumeId>${volumeId}</volumeId>` +
        `<instanceId>${attachment.instanceId}</instanceId><device>${attachment.device}</device>` +
        `<status>detaching</status><attachTime>${attachment.attachTime}</attachTime></DetachVolumeResponse>`,
    );
  };

  const describeVolumes = async (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const answer = await send(upstream, body, req.headers);
    const root = answer.status < 300 ? rootOf(parseXml(answer.body.toString('utf8'))) : undefined;
    if (!root) return sendXml(res, answer.status, answer.body.toString('utf8'));
    const now = Date.now();
    for (const volume of items(root, 'volumeSet')) {
      const change = volumeChanges.get(textOf(volume, 'volumeId') ?? '');
      if (!change || (change.status === 'attaching' && now >= change.until)) continue;
      for (const attachment of items(volume, 'attachmentSet')) {
        if (textOf(attachment, 'instanceId') === change.instanceId) {
          setText(attachment, 'status', change.status);
        }
      }
    }
    sendXml(res, 200, buildXml([root]));
  };

  /** The address a terminated instance had (moto keeps it), or why it cannot be reused. */
  const terminatedAddress = async (instanceId: string): Promise<PrivateAddress | string> => {
    const answer = await callUpstream({
      Action: 'DescribeInstances',
      Version: '2016-11-15',
      'InstanceId.1': instanceId,
    });
    const instance = answer.root
      ? items(answer.root, 'reservationSet').flatMap((r) => items(r, 'instancesSet'))[0]
      : undefined;
    if (!instance) return `EC2 does not know ${instanceId}`;
    const state = trueState(
      instanceId,
      (textOf(instance, 'instanceState', 'name') ?? 'running') as InstanceState,
    );
    if (state !== 'terminated')
      return `${instanceId} is ${state}: EC2 reuses only a terminated instance's address`;
    return {
      ip: textOf(instance, 'privateIpAddress') ?? '',
      dnsName: textOf(instance, 'privateDnsName') ?? '',
    };
  };

  const runInstances = async (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const answer = await send(upstream, body, req.headers);
    const root = answer.status < 300 ? rootOf(parseXml(answer.body.toString('utf8'))) : undefined;
    const address = nextAddress;
    if (!root || !address) return sendXml(res, answer.status, answer.body.toString('utf8'));
    const [first] = items(root, 'instancesSet');
    if (first) {
      nextAddress = undefined;
      reusedAddresses.set(textOf(first, 'instanceId') ?? '', address);
      giveAddress(first, address);
    }
    sendXml(res, 200, buildXml([root]));
  };

  const server = createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      if (req.method === 'GET' && req.url === transitionsPath) {
        const now = Date.now();
        const transitions: Ec2Transition[] = [...instances].flatMap(([instanceId, history]) =>
          history.states
            .filter((s) => Number.isFinite(s.at) && s.at <= now)
            .map((s) => ({ instanceId, state: s.state, at: s.at })),
        );
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(transitions));
        return;
      }
      if (req.method === 'POST' && req.url === reuseAddressPath) {
        const { from } = JSON.parse(body.toString('utf8')) as { from: string };
        const address = await terminatedAddress(from);
        if (typeof address === 'string') {
          res.writeHead(409, { 'content-type': 'text/plain' });
          res.end(address);
          return;
        }
        nextAddress = address;
        res.writeHead(204);
        res.end();
        return;
      }
      const params = isEc2(req) ? new URLSearchParams(body.toString('utf8')) : undefined;
      switch (params?.get('Action')) {
        case 'RunInstances':
          return await runInstances(req, body, res);
        case undefined:
          return forward(req, body, res, upstream);
        case 'TerminateInstances':
        case 'StopInstances':
        case 'StartInstances':
          return await changeStates(
            params as URLSearchParams,
            res,
            params?.get('Action') as 'StopInstances',
          );
        case 'DescribeInstances':
          return await describeInstances(req, body, params as URLSearchParams, res);
        case 'AttachVolume':
          return await attachVolume(req, body, params as URLSearchParams, res);
        case 'DetachVolume':
          return await detachVolume(params as URLSearchParams, res);
        case 'DescribeVolumes':
          return await describeVolumes(req, body, res);
        default:
          return forward(req, body, res, upstream);
      }
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`EC2 layer failed: ${(error as Error).stack ?? String(error)}`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('the EC2 layer has no address');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The EC2 Query API, told from the other query-protocol services by the signature's scope. */
function isEc2(req: IncomingMessage): boolean {
  const contentType = req.headers['content-type'] ?? '';
  const scope = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(req.headers.authorization ?? '');
  return contentType.includes('x-www-form-urlencoded') && scope?.[1] === 'ec2';
}

/** `InstanceId.1`, `InstanceId.2`, ... of the query protocol. */
function listParam(params: URLSearchParams, name: string): string[] {
  const values: string[] = [];
  for (let i = 1; params.has(`${name}.${i}`); i++) values.push(params.get(`${name}.${i}`) ?? '');
  return values;
}

/** The values of the filter `name` (`Filter.N.Name` / `Filter.N.Value.M`), if the request has one. */
function filterValues(params: URLSearchParams, name: string): string[] | undefined {
  for (let i = 1; params.has(`Filter.${i}.Name`); i++) {
    if (params.get(`Filter.${i}.Name`) === name) return listParam(params, `Filter.${i}.Value`);
  }
  return undefined;
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

/** Puts `address` wherever EC2 shows an instance's private address. */
function giveAddress(instance: XmlNode, address: PrivateAddress): void {
  const set = (node: XmlNode) => {
    if (at(node, 'privateDnsName')) setText(node, 'privateDnsName', address.dnsName);
    if (at(node, 'privateIpAddress')) setText(node, 'privateIpAddress', address.ip);
  };
  set(instance);
  for (const networkInterface of items(instance, 'networkInterfaceSet')) {
    set(networkInterface);
    for (const privateIp of items(networkInterface, 'privateIpAddressesSet')) set(privateIp);
  }
}

/** "2026-12-07 04:41:17 UTC": the time format of EC2's StateTransitionReason. */
function ec2ReasonTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function unsignedEc2Authorization(): string {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  return `AWS4-HMAC-SHA256 Credential=testing/${day}/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0`;
}

function sendXml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/xml;charset=UTF-8',
    'x-amzn-requestid': randomUUID(),
  });
  res.end(body);
}

function ec2Error(res: ServerResponse, code: string, message: string): void {
  sendXml(
    res,
    400,
    `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code>` +
      `<Message>${message}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
  );
}

function send(
  upstream: URL,
  body: Buffer,
  headers: IncomingMessage['headers'] | Record<string, string>,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const call = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: 'POST',
        path: '/',
        headers: { ...headers, 'content-length': String(body.length), host: upstream.host },
      },
      (answer) => {
        readBody(answer)
          .then((content) => resolve({ status: answer.statusCode ?? 502, body: content }))
          .catch(reject);
      },
    );
    call.on('error', reject);
    call.end(body);
  });
}

function forward(req: IncomingMessage, body: Buffer, res: ServerResponse, upstream: URL): void {
  const call = request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  call.on('error', (error) => {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`EC2 layer could not reach ${upstream.origin}: ${error.message}`);
  });
  call.end(body);
}
