/**
 * JSON requests to a Kubernetes API server over Node.js's own HTTP client: one kept-alive
 * connection pool per cluster, its TLS settings from the kubeconfig, each request bounded by a
 * signal. The remediator makes a dozen kinds of request; a generated client of every API group
 * (and the HTTP stack it brings) would be most of the function's code and cold start.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ClusterEndpoint } from './kubeconfig.ts';

/** The API server answered with an error status; its Status object's reason and message kept. */
export class KubernetesApiError extends Error {
  readonly status: number;
  /** The Status object's reason (NotFound, Conflict, ...), when the body is one. */
  readonly reason?: string;
  /** Seconds the server asked to wait before trying again (429, 503). */
  readonly retryAfterSeconds?: number;

  constructor(status: number, body: string, retryAfter: string | undefined) {
    let reason: string | undefined;
    let message = body;
    try {
      const parsed = JSON.parse(body) as { reason?: unknown; message?: unknown };
      if (typeof parsed.message === 'string') {
        message = parsed.message;
        if (typeof parsed.reason === 'string' && parsed.reason !== '') reason = parsed.reason;
      }
    } catch {
      // Not a Status object (a proxy's HTML page): its text is all there is.
    }
    super(reason ? `${reason}: ${message}` : message || 'no message');
    this.name = 'KubernetesApiError';
    this.status = status;
    if (reason) this.reason = reason;
    const seconds = retryAfter === undefined ? Number.NaN : Number(retryAfter);
    if (Number.isFinite(seconds)) this.retryAfterSeconds = seconds;
  }
}

export interface KubernetesRequest {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** The path under the server, such as /api/v1/nodes/node-a. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: unknown;
  /** For PATCH: application/json-patch+json, application/merge-patch+json. */
  readonly contentType?: string;
  /** Ends the request unanswered (a timeout, the invocation's cut-off). */
  readonly signal?: AbortSignal;
}

export type KubernetesHttp = <T>(request: KubernetesRequest) => Promise<T>;

function withQuery(path: string, query: KubernetesRequest['query']): string {
  const pairs = Object.entries(query ?? {}).filter(([, v]) => v !== undefined && v !== '');
  if (pairs.length === 0) return path;
  return `${path}?${new URLSearchParams(pairs.map(([k, v]): [string, string] => [k, String(v)]))}`;
}

function readAll(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.on('error', reject);
    response.on('aborted', () => reject(new Error('the answer was cut off')));
  });
}

/** The answer's body as JSON, or the API's error with its status and Retry-After. */
function parsedAnswer<T>(response: IncomingMessage, text: string): T {
  const status = response.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    const retryAfter = response.headers['retry-after'];
    throw new KubernetesApiError(
      status,
      text,
      Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
    );
  }
  try {
    return (text === '' ? {} : JSON.parse(text)) as T;
  } catch {
    throw new Error(`the answer is not JSON: ${text.slice(0, 100)}`);
  }
}

/** Requests to the cluster at `endpoint`, all on one connection pool. */
export function createKubernetesHttp(endpoint: ClusterEndpoint): KubernetesHttp {
  const base = new URL(endpoint.server);
  const secure = base.protocol === 'https:';
  const agent = secure
    ? new HttpsAgent({
        keepAlive: true,
        ...(endpoint.certificateAuthority ? { ca: endpoint.certificateAuthority } : {}),
        ...(endpoint.clientCertificate ? { cert: endpoint.clientCertificate } : {}),
        ...(endpoint.clientKey ? { key: endpoint.clientKey } : {}),
        rejectUnauthorized: endpoint.insecureSkipTlsVerify !== true,
      })
    : new HttpAgent({ keepAlive: true });
  const send = secure ? httpsRequest : httpRequest;
  const prefix = base.pathname.replace(/\/+$/, '');

  const once = <T>(request: KubernetesRequest, token: string | undefined) =>
    new Promise<T>((resolve, reject) => {
      const body = request.body === undefined ? undefined : JSON.stringify(request.body);
      const outgoing = send(
        {
          protocol: base.protocol,
          hostname: base.hostname,
          port: base.port,
          method: request.method,
          path: withQuery(`${prefix}${request.path}`, request.query),
          agent,
          headers: {
            accept: 'application/json',
            'user-agent': 'ebs-volume-remediator',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(body === undefined
              ? {}
              : {
                  'content-type': request.contentType ?? 'application/json',
                  'content-length': Buffer.byteLength(body),
                }),
          },
          ...(request.signal ? { signal: request.signal } : {}),
        },
        (response) => {
          readAll(response)
            .then((text) => parsedAnswer<T>(response, text))
            .then(resolve, reject);
        },
      );
      // An aborted request fails with why it was aborted ("...due to timeout").
      outgoing.on('error', (error) => {
        const reason: unknown = request.signal?.aborted ? request.signal.reason : undefined;
        reject(reason instanceof Error ? reason : error);
      });
      outgoing.end(body);
    });

  return async <T>(request: KubernetesRequest): Promise<T> => {
    try {
      return await once<T>(request, await endpoint.token?.());
    } catch (error) {
      // Credentials that went stale (an expired token, a rotated kubeconfig secret): dropped,
      // and the request tried once more with fresh ones.
      if (
        !(error instanceof KubernetesApiError) ||
        error.status !== 401 ||
        !endpoint.onUnauthorized
      ) {
        throw error;
      }
      endpoint.onUnauthorized();
      return once<T>(request, await endpoint.token?.());
    }
  };
}
