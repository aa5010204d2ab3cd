// The Kubernetes port against a scripted HTTP server standing in for the apiserver's answers
// that are hard to provoke from a real one on cue: throttling with Retry-After, a 500 with a
// Status body, a proxy's HTML page.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKubeconfig } from '#functions/shared/kubernetes/kubeconfig.ts';
import { createKubernetesPort } from '#functions/shared/kubernetes/kubernetes-port.ts';
import { cutOffText, withCutOff } from '#functions/shared/util/invocation-cut-off.ts';

type Answer = (req: IncomingMessage, res: ServerResponse) => void;
let answers: Answer[] = [];
const requests: string[] = [];
const server = createServer((req, res) => {
  requests.push(`${req.method} ${req.url}`);
  const answer = answers.shift();
  if (answer) answer(req, res);
  else res.writeHead(599).end('no answer scripted');
});

beforeAll(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const node = { kind: 'Node', apiVersion: 'v1', metadata: { name: 'node-a', uid: 'u1' } };
const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
const statusBody = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  code,
  reason,
  message,
});

function kubeconfigText(): string {
  const { port: p } = server.address() as AddressInfo;
  return JSON.stringify({
    clusters: [
      { name: 'c', cluster: { server: `http://127.0.0.1:${p}`, 'insecure-skip-tls-verify': true } },
    ],
    users: [{ name: 'u', user: { token: 't' } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });
}

function port(waits: number[] = []) {
  return createKubernetesPort(parseKubeconfig(kubeconfigText()), {
    sleep: async (ms) => {
      waits.push(ms);
    },
    requestTimeoutMs: 500,
  });
}

describe('the Kubernetes port', () => {
  it('waits out a 429 with Retry-After and then succeeds', async () => {
    answers = [
      json(429, statusBody(429, 'TooManyRequests', 'too many requests'), { 'Retry-After': '1' }),
      json(200, node),
    ];
    const waits: number[] = [];

    const read = await port(waits).readNode('node-a');

    expect(read?.uid).toBe('u1');
    expect(waits).toEqual([1000]);
  });

  it('gives up after three throttle retries and says what it was doing', async () => {
    const throttled = json(503, statusBody(503, 'ServiceUnavailable', 'apiserver is starting'), {
      'Retry-After': '2',
    });
    answers = [throttled, throttled, throttled, throttled];
    const waits: number[] = [];

    await expect(port(waits).readNode('node-a')).rejects.toThrow(
      'reading node node-a: Kubernetes API answered 503: ServiceUnavailable: apiserver is starting',
    );
    expect(waits).toEqual([2000, 2000, 2000]);
  });

  it('does not retry a 500, and names it without the response headers', async () => {
    answers = [json(500, statusBody(500, 'InternalError', 'etcdserver: leader changed'))];
    requests.length = 0;

    const error = await port()
      .readVolumeAttachment('csi-0123')
      .catch((e: Error) => e);

    expect((error as Error).message).toBe(
      'reading volumeattachment csi-0123: Kubernetes API answered 500: InternalError: etcdserver: leader changed',
    );
    expect(requests).toHaveLength(1);
  });

  it('abandons a request that is never answered, and says the API did not answer', async () => {
    answers = [() => undefined];

    await expect(port().readNode('node-a')).rejects.toThrow(
      /^reading node node-a: the Kubernetes API at http:\/\/127\.0\.0\.1:\d+ did not answer \(.*timeout.*\)/,
    );
  });

  it("abandons a request in flight at the invocation's cut-off, and says so", async () => {
    answers = [() => undefined];
    // A request timeout far beyond the cut-off: only the cut-off can end this request.

    const error = await withCutOff(Date.now() + 200, () =>
      createKubernetesPort(parseKubeconfig(kubeconfigText()), {
        requestTimeoutMs: 60_000,
      }).readNode('node-a'),
    ).catch((e: Error) => e);

    expect((error as Error).message).toBe(`reading node node-a: ${cutOffText}`);
  });

  it('cuts a long answer that is not a Status object', async () => {
    answers = [
      (_req, res) => {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end(`<html>${'bad gateway '.repeat(200)}</html>`);
      },
    ];

    const error = await port()
      .readPod('default', 'db-0')
      .catch((e: Error) => e);

    expect((error as Error).message).toMatch(
      /^reading pod default\/db-0: Kubernetes API answered 502: <html>(bad gateway )+.*\.\.\.$/,
    );
    expect((error as Error).message.length).toBeLessThan(400);
  });
});

describe('the Kubernetes port changing a Node’s taints', () => {
  const taint = { key: 'node.kubernetes.io/out-of-service', value: 'x', effect: 'NoExecute' };
  const nodeWith = (uid: string, taints: object[] = []) => ({
    ...node,
    metadata: { ...node.metadata, uid, resourceVersion: '7' },
    spec: { taints },
  });

  it('taints only the Node observed: another under its name is not ours, and nothing is patched', async () => {
    requests.length = 0;
    answers = [json(200, nodeWith('someone-else'))];

    expect(await port().addNodeTaint('node-a', taint, 'u1')).toBe('not-ours');
    expect(requests).toEqual(['GET /api/v1/nodes/node-a']);
  });

  it('says a taint that is there already is already done', async () => {
    answers = [json(200, nodeWith('u1', [taint]))];

    expect(await port().addNodeTaint('node-a', taint, 'u1')).toBe('already-done');
  });

  it('patches with a uid test, and says gone when the Node went away before the patch', async () => {
    let body = '';
    answers = [
      json(200, nodeWith('u1')),
      (req, res) => {
        req.on('data', (chunk) => {
          body += chunk;
        });
        req.on('end', () =>
          json(404, statusBody(404, 'NotFound', 'nodes "node-a" not found'))(req, res),
        );
      },
    ];

    expect(await port().addNodeTaint('node-a', taint, 'u1')).toBe('gone');
    expect(JSON.parse(body)).toContainEqual({ op: 'test', path: '/metadata/uid', value: 'u1' });
  });
});
