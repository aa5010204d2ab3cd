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
 *
 * The rules live apart: instances.ts (states), volumes.ts (attach, detach, the log),
 * addresses.ts (reuse), query-api.ts (EC2's wire), timings.ts (how long EC2 takes).
 */
import { createServer } from 'node:http';
import { readBody } from '../http-body.ts';
import { listenOnLoopback } from '../loopback-server.ts';
import { Addresses } from './addresses.ts';
import { InstanceStates, type StateChange } from './instances.ts';
import { isEc2, Upstream } from './query-api.ts';
import { Delays, type Ec2Timings, ec2Timings } from './timings.ts';
import { Volumes } from './volumes.ts';

export type { Ec2Transition } from './instances.ts';
export { type Ec2Timings, ec2Timings } from './timings.ts';
export { type Ec2LogEntry, readEc2Log } from './volumes.ts';

/** GET: every instance state reached so far (`Ec2Transition[]`). */
export const transitionsPath = '/__ec2/transitions';
/** POST `{"from": "<terminated instance id>"}`: the next instance launched gets its address. */
export const reuseAddressPath = '/__ec2/reuse-address';

export interface RunningEc2Layer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Starts the layer on a free loopback port in front of `upstream` (moto, or a stand-in). */
export async function startEc2AsItBehaves(options: {
  readonly upstream: string;
  /** The JSON-lines file every AttachVolume and DetachVolume is appended to. */
  readonly attachmentLog: string;
  readonly timings?: Ec2Timings;
}): Promise<RunningEc2Layer> {
  const timings = options.timings ?? ec2Timings;
  const upstream = new Upstream(options.upstream);
  const delays = new Delays();
  const instances = new InstanceStates(upstream, timings, delays);
  const volumes = new Volumes(upstream, timings, delays, instances, options.attachmentLog);
  const addresses = new Addresses(upstream, instances);

  // biome-ignore lint/complexity/noExcessiveCognitiveComplexity: the layer's routing: one branch per EC2 action it changes, each a line, as a switch over the action would be
  const server = createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      if (req.method === 'GET' && req.url === transitionsPath) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(instances.transitions()));
        return;
      }
      if (req.method === 'POST' && req.url === reuseAddressPath) {
        const { from } = JSON.parse(body.toString('utf8')) as { from: string };
        const refusal = await addresses.reuse(from);
        res.writeHead(refusal ? 409 : 204, { 'content-type': 'text/plain' });
        res.end(refusal ?? '');
        return;
      }
      const params = isEc2(req) ? new URLSearchParams(body.toString('utf8')) : undefined;
      const action = params?.get('Action');
      if (!params || !action) return upstream.forward(req, body, res);
      switch (action) {
        case 'TerminateInstances':
        case 'StopInstances':
        case 'StartInstances':
          return await instances.change(params, res, action as StateChange);
        case 'DescribeInstances':
          return await instances.describe(body, req.headers, params, res, (instance) =>
            addresses.show(instance),
          );
        case 'RunInstances':
          return await addresses.runInstances(req, body, res);
        case 'AttachVolume':
          return await volumes.attach(req, body, params, res);
        case 'DetachVolume':
          return await volumes.detach(params, res);
        case 'DescribeVolumes':
          return await volumes.describe(req, body, res);
        default:
          return upstream.forward(req, body, res);
      }
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`EC2 layer failed: ${(error as Error).stack ?? String(error)}`);
    }
  });
  return {
    endpoint: await listenOnLoopback(server, 'the EC2 layer'),
    stop: () =>
      new Promise<void>((resolve) => {
        delays.cancelAll();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
