/**
 * A fault-injecting proxy in front of moto or the kube-apiserver, for the reliability tests:
 * rules pick requests by AWS action (query protocol `Action=`, or `X-Amz-Target`) or by
 * Kubernetes verb and path, and fail the first N of them in one way, then let them pass.
 *
 * In front of the kube-apiserver it speaks plain HTTP to the function and HTTPS upstream with
 * the identity of the kubeconfig it is given (client certificate or token), so the function
 * acts with its own RBAC as usual: `kubeconfigThrough()` writes the kubeconfig that points at
 * the proxy.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import {
  createServer,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { readBody } from './http-body.ts';

/** How a matched request fails. */
export type Fault =
  /** An error answer: EC2's XML error, or a Kubernetes Status object, with this status. */
  | {
      readonly kind: 'answer';
      readonly status: number;
      readonly code: string;
      readonly headers?: Record<string, string>;
    }
  /** The connection is cut before the request reaches upstream. */
  | { readonly kind: 'reset' }
  /** The request reaches upstream (its effect happens); its answer is lost. */
  | { readonly kind: 'lost-answer' }
  /** The request reaches upstream; half of its answer arrives, then the connection is cut. */
  | { readonly kind: 'truncated' }
  /** No answer at all, until the client gives up. */
  | { readonly kind: 'hang' }
  /** Passed on after a delay: a real API's latency, which the emulators on loopback lack. */
  | { readonly kind: 'delay'; readonly ms: number };

export interface FaultRule {
  /** An AWS action name (DescribeInstances, DetachVolume, ...). */
  readonly awsAction?: string;
  /** A Kubernetes verb (get, list, delete, patch, ...; list is a GET of a collection). */
  readonly kubeVerb?: string;
  /** A pattern the request path must match. */
  readonly path?: RegExp;
  /** Only requests to a path that already saw a request with this verb (reads after a delete). */
  readonly afterVerbOnSamePath?: string;
  readonly fault: Fault;
  /** Fail this many matching requests, then let them pass. */
  readonly times: number;
}

export interface FaultHit {
  readonly rule: number;
  readonly what: string;
}

/** A token bucket of EC2's request throttling: `burst` tokens, refilled `perSecond`. */
export interface RateLimit {
  readonly name: string;
  /** Which requests draw from this bucket: by action and whether they filter or paginate. */
  applies(action: string, filteredOrPaginated: boolean): boolean;
  readonly burst: number;
  readonly perSecond: number;
}

/**
 * EC2's buckets per account and Region, as remediation.md gives them: Describe calls 100 / 20
 * per second, but 50 / 10 for DescribeInstances or DescribeVolumes with neither filter nor
 * pagination; mutating calls such as DetachVolume 50 / 5 per second.
 */
export const ec2RateLimits: readonly RateLimit[] = [
  {
    name: 'unfiltered Describe',
    applies: (action, filtered) =>
      !filtered && (action === 'DescribeInstances' || action === 'DescribeVolumes'),
    burst: 50,
    perSecond: 10,
  },
  {
    name: 'Describe',
    applies: (action, filtered) =>
      action.startsWith('Describe') &&
      (filtered || (action !== 'DescribeInstances' && action !== 'DescribeVolumes')),
    burst: 100,
    perSecond: 20,
  },
  {
    name: 'mutating',
    applies: (action) => !action.startsWith('Describe'),
    burst: 50,
    perSecond: 5,
  },
];

export interface FaultProxy {
  readonly endpoint: string;
  /** Every request seen, with when it arrived (ms since the epoch). */
  requests(): ReadonlyArray<{ readonly what: string; readonly at: number }>;
  /** Requests answered RequestLimitExceeded by the rate limits. */
  throttled(): number;
  /** Replaces the rules; each starts with its full count, and the hits start over. */
  setRules(rules: readonly FaultRule[]): void;
  /** The requests that were failed since the rules were set, in order. */
  hits(): readonly FaultHit[];
  /** Every request seen, as "<what>" (action, or verb and path). */
  seen(): readonly string[];
  stop(): Promise<void>;
}

function awsActionOf(req: IncomingMessage, body: Buffer): string | undefined {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target.split('.').pop();
  if ((req.headers['content-type'] ?? '').includes('x-www-form-urlencoded')) {
    return new URLSearchParams(body.toString('utf8')).get('Action') ?? undefined;
  }
  return undefined;
}

/** Kubernetes' verb for a request: a GET of a collection is `list`, `?watch` is `watch`. */
function kubeVerbOf(req: IncomingMessage): string {
  const url = new URL(req.url ?? '/', 'http://x');
  if (req.method === 'GET') {
    if (url.searchParams.get('watch') === 'true') return 'watch';
    // /api/v1/nodes (collection, even segment count after the group/version) vs /api/v1/nodes/x
    const segments = url.pathname.split('/').filter(Boolean);
    const afterVersion = segments[0] === 'api' ? segments.slice(2) : segments.slice(3);
    const namespaced = afterVersion[0] === 'namespaces' && afterVersion.length > 2;
    const rest = namespaced ? afterVersion.slice(2) : afterVersion;
    return rest.length % 2 === 1 ? 'list' : 'get';
  }
  return (
    { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' }[req.method ?? ''] ?? 'get'
  );
}

function errorBody(kube: boolean, status: number, code: string): string {
  if (kube) {
    return JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: code,
      message: `injected ${code}`,
      code: status,
    });
  }
  return (
    `<Response><Errors><Error><Code>${code}</Code><Message>injected ${code}</Message></Error>` +
    `</Errors><RequestID>${randomUUID()}</RequestID></Response>`
  );
}

/**
 * Starts the proxy in front of `upstream`: moto (`http://...`) or, with `kubeconfig`, the
 * kube-apiserver that kubeconfig names, reached with its identity.
 */
export async function startFaultProxy(
  upstream: string,
  kubeconfig?: string,
  rateLimits: readonly RateLimit[] = [],
): Promise<FaultProxy> {
  const target = new URL(upstream);
  const kube = kubeconfig !== undefined;
  let rules: Array<FaultRule & { left: number }> = [];
  const hits: FaultHit[] = [];
  const seen: string[] = [];
  const arrivals: Array<{ what: string; at: number }> = [];
  let throttledCount = 0;
  const buckets = rateLimits.map((limit) => ({ limit, tokens: limit.burst, at: Date.now() }));
  /** Takes a token from the request's bucket; false when it is empty (EC2 would throttle). */
  const admit = (action: string, body: Buffer): boolean => {
    const params = new URLSearchParams(body.toString('utf8'));
    const filtered = [...params.keys()].some(
      (key) => key.startsWith('Filter.') || key === 'MaxResults',
    );
    const bucket = buckets.find((b) => b.limit.applies(action, filtered));
    if (!bucket) return true;
    const now = Date.now();
    bucket.tokens = Math.min(
      bucket.limit.burst,
      bucket.tokens + ((now - bucket.at) / 1000) * bucket.limit.perSecond,
    );
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  };
  const sockets = new Set<import('node:net').Socket>();

  let agent: HttpAgent | HttpsAgent = new HttpAgent({ keepAlive: true });
  const identity: Record<string, string> = {};
  if (kubeconfig) {
    const config = new KubeConfig();
    config.loadFromFile(kubeconfig);
    const options: { ca?: Buffer; cert?: Buffer; key?: Buffer; headers?: Record<string, string> } =
      {};
    await config.applyToHTTPSOptions(options);
    agent = new HttpsAgent({
      keepAlive: true,
      ca: options.ca,
      cert: options.cert,
      key: options.key,
    });
    Object.assign(identity, options.headers ?? {});
  }

  const forward = (
    req: IncomingMessage,
    body: Buffer,
    onAnswer: (status: number, headers: IncomingMessage['headers'], answer: Buffer) => void,
    onError: (error: Error) => void,
  ) => {
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const outgoing = send(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, ...identity, host: target.host },
        agent,
      },
      async (answer) => {
        try {
          onAnswer(answer.statusCode ?? 502, answer.headers, await readBody(answer));
        } catch (error) {
          onError(error as Error);
        }
      },
    );
    outgoing.on('error', onError);
    outgoing.end(body);
  };

  // biome-ignore lint/complexity/noExcessiveCognitiveComplexity: the fault switch: one branch per fault a test can set, checked in order on every request; each is a line
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const action = kube ? undefined : awsActionOf(req, body);
    const verb = kube ? kubeVerbOf(req) : undefined;
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const what = kube ? `${verb} ${path}` : (action ?? `${req.method} ${path}`);
    const index = rules.findIndex(
      (rule) =>
        rule.left > 0 &&
        (rule.awsAction === undefined || rule.awsAction === action) &&
        (rule.kubeVerb === undefined || rule.kubeVerb === verb) &&
        (rule.path === undefined || rule.path.test(path)) &&
        (rule.afterVerbOnSamePath === undefined ||
          seen.includes(`${rule.afterVerbOnSamePath} ${path}`)),
    );
    seen.push(what);
    arrivals.push({ what, at: Date.now() });
    if (action && !admit(action, body)) {
      throttledCount++;
      res.writeHead(503, { 'content-type': 'text/xml' });
      res.end(errorBody(false, 503, 'RequestLimitExceeded'));
      return;
    }
    const rule = rules[index];
    const pass = () =>
      forward(
        req,
        body,
        (status, headers, answer) => {
          res.writeHead(status, headers);
          res.end(answer);
        },
        (error) => {
          res.writeHead(502).end(`fault proxy: upstream failed: ${error.message}`);
        },
      );
    if (!rule) {
      pass();
      return;
    }
    rule.left--;
    hits.push({ rule: index, what });
    const { fault } = rule;
    switch (fault.kind) {
      case 'answer':
        res.writeHead(fault.status, {
          'content-type': kube ? 'application/json' : 'text/xml',
          ...fault.headers,
        });
        res.end(errorBody(kube, fault.status, fault.code));
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'hang':
        return;
      case 'delay':
        setTimeout(pass, fault.ms);
        return;
      case 'lost-answer':
        forward(
          req,
          body,
          () => req.socket.destroy(),
          () => req.socket.destroy(),
        );
        return;
      case 'truncated':
        forward(
          req,
          body,
          (status, headers, answer) => {
            res.writeHead(status, { ...headers, 'content-length': String(answer.length) });
            res.write(answer.subarray(0, Math.floor(answer.length / 2)));
            setTimeout(() => req.socket.destroy(), 10);
          },
          () => req.socket.destroy(),
        );
        return;
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    setRules(next) {
      rules = next.map((rule) => ({ ...rule, left: rule.times }));
      hits.length = 0;
    },
    hits: () => [...hits],
    requests: () => [...arrivals],
    throttled: () => throttledCount,
    seen: () => [...seen],
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A kubeconfig that reaches the cluster through the proxy (which adds the identity). */
export function kubeconfigThrough(proxy: FaultProxy): string {
  const file = join(tmpdir(), `fault-proxy-${randomUUID()}.kubeconfig`);
  const config = new KubeConfig();
  config.loadFromOptions({
    // Plain HTTP to the proxy, which speaks TLS upstream (the client allows http only so).
    clusters: [{ name: 'through-proxy', server: proxy.endpoint, skipTLSVerify: true }],
    users: [{ name: 'proxied' }],
    contexts: [{ name: 'through-proxy', cluster: 'through-proxy', user: 'proxied' }],
    currentContext: 'through-proxy',
  });
  writeFileSync(file, config.exportConfig());
  return file;
}
