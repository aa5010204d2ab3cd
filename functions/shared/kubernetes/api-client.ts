/**
 * The HTTP plumbing of the Kubernetes port: requests with their own timeout and the
 * invocation's cut-off, throttle answers waited out, failures named for what was being done,
 * paged lists, and patches with a resourceVersion test.
 */
import { kubernetesGroup } from '../contract/kubernetes-identity.ts';
import { ClusterAccessError, causeText, messageOf, RemediationError } from '../util/errors.ts';
import { cutOffReached, cutOffSignal, cutOffText } from '../util/invocation-cut-off.ts';
import type { ClusterEndpoint } from './kubeconfig.ts';
import {
  createKubernetesHttp,
  KubernetesApiError,
  type KubernetesRequest,
} from './kubernetes-http.ts';

const pageSize = 500;
/** Optimistic-concurrency retries of a patch whose resourceVersion test failed. */
export const patchAttempts = 3;

/** The HTTP status of a failed request, or undefined when there was no answer. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof KubernetesApiError ? error.status : undefined;
}

/** What the API said (the Status object's reason and message), or why it said nothing; cut. */
function answerOf(error: unknown): string {
  return causeText(messageOf(error));
}

/** Throttle answers retried per call, and the longest Retry-After honoured. */
const throttleRetries = 3;
const maxRetryAfterMs = 5_000;

/**
 * How long a 429 or 503 with Retry-After asks to wait (API priority and fairness, an apiserver
 * starting up); undefined for any other failure, which is not retried here.
 */
function retryAfterMs(error: unknown): number | undefined {
  if (!(error instanceof KubernetesApiError) || (error.status !== 429 && error.status !== 503)) {
    return undefined;
  }
  const seconds = error.retryAfterSeconds;
  if (seconds === undefined) return undefined;
  return Math.min(Math.max(seconds * 1000, 100), maxRetryAfterMs);
}

/** Long enough for a list page of 500 objects from a busy apiserver; short against Lambda's timeout. */
const defaultRequestTimeoutMs = 10_000;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs one API request, waiting out the throttle answers that say when to come back. */
async function honouringRetryAfter<T>(
  request: () => Promise<T>,
  sleep: (ms: number) => Promise<void>,
): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await request();
    } catch (error) {
      const wait = retryAfterMs(error);
      if (wait === undefined || retry >= throttleRetries) throw error;
      await sleep(wait);
    }
  }
}

/**
 * Wraps a failed call: no answer, 401 or 403 mean the cluster cannot be used as configured;
 * anything else is a failure of that one step. Both are retried by Lambda.
 */
function failure(what: string, server: string, error: unknown): Error {
  if (cutOffReached()) return new RemediationError(`${what}: ${cutOffText}`, { cause: error });
  const status = statusOf(error);
  if (status === undefined) {
    return new ClusterAccessError(
      `${what}: the Kubernetes API at ${server} did not answer (${answerOf(error)}); check the ` +
        'cluster endpoint, the network path from the function (VPC, security groups) and the credentials',
      { cause: error },
    );
  }
  if (status === 401 || status === 403) {
    return new ClusterAccessError(
      `${what}: the Kubernetes API at ${server} answered ${status}; check that the remediator's ` +
        `identity is mapped to group ${kubernetesGroup} and infra/kubernetes/rbac.yaml is applied`,
      { cause: error },
    );
  }
  return new RemediationError(`${what}: Kubernetes API answered ${status}: ${answerOf(error)}`, {
    cause: error,
  });
}

interface List<T> {
  readonly items: T[];
  readonly metadata?: { readonly continue?: string };
}

export interface ApiClientOptions {
  readonly sleep?: (ms: number) => Promise<void>;
  /** How long one request may take before it is abandoned as unanswered. */
  readonly requestTimeoutMs?: number;
}

/** The requests of one cluster's API, each failure wrapped as what was being done. */
export interface ApiClient {
  /** The API's address, for messages. */
  readonly server: string;
  /** One request, unwrapped: the caller decides what a failure means. */
  request<T>(request: Omit<KubernetesRequest, 'signal'>): Promise<T>;
  get<T>(path: string, query?: KubernetesRequest['query']): Promise<T>;
  jsonPatch<T>(path: string, patch: object[]): Promise<T>;
  /** The failure of `what`: a ClusterAccessError when the cluster cannot be used as configured. */
  failure(what: string, error: unknown): Error;
  /** One object, or undefined when the API says there is none (404). */
  readOrNone<T, R>(what: string, path: string, toFacts: (item: T) => R): Promise<R | undefined>;
  /** Every item of a list, page by page (`limit` and `continue`), so large clusters stay cheap. */
  listAll<T, R>(
    what: string,
    path: string,
    query: Record<string, string>,
    toFacts: (item: T) => R,
  ): Promise<R[]>;
  /**
   * Reads (or takes `first`), changes and writes back with a resourceVersion test, retrying on
   * a conflict; undefined when the object is gone or `change` has nothing to do.
   */
  patchWithTest<T extends { metadata?: { resourceVersion?: string } }, R>(
    what: string,
    read: () => Promise<T>,
    change: (current: T) => object[] | undefined,
    write: (patch: object[]) => Promise<R>,
    first?: T,
  ): Promise<R | undefined>;
}

export function createApiClient(
  endpoint: ClusterEndpoint,
  options: ApiClientOptions = {},
): ApiClient {
  const sleep = options.sleep ?? defaultSleep;
  const requestTimeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
  const http = createKubernetesHttp(endpoint);
  const server = endpoint.server;
  /**
   * One request: abandoned after its own timeout (a hung apiserver would otherwise hold the
   * invocation until Lambda cuts it off, unreported) or at the invocation's cut-off, and retried
   * after a throttle answer's Retry-After before it counts as failed.
   */
  const request = <T>(req: Omit<KubernetesRequest, 'signal'>): Promise<T> =>
    honouringRetryAfter(() => {
      const cutOff = cutOffSignal();
      const timeout = AbortSignal.timeout(requestTimeoutMs);
      return http<T>({ ...req, signal: cutOff ? AbortSignal.any([timeout, cutOff]) : timeout });
    }, sleep);
  const get = <T>(path: string, query?: KubernetesRequest['query']) =>
    request<T>({ method: 'GET', path, ...(query ? { query } : {}) });
  const fail = (what: string, error: unknown) => failure(what, server, error);

  async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw fail(what, error);
    }
  }

  return {
    server,
    request,
    get,
    jsonPatch: <T>(path: string, patch: object[]) =>
      request<T>({
        method: 'PATCH',
        path,
        body: patch,
        contentType: 'application/json-patch+json',
      }),
    failure: fail,

    async readOrNone(what, path, toFacts) {
      try {
        return toFacts(await get(path));
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw fail(what, error);
      }
    },

    async listAll<T, R>(
      what: string,
      path: string,
      query: Record<string, string>,
      toFacts: (item: T) => R,
    ) {
      const all: R[] = [];
      let next: string | undefined;
      do {
        const page = await call(what, () =>
          get<List<T>>(path, { ...query, limit: pageSize, continue: next }),
        );
        for (const item of page.items ?? []) all.push(toFacts(item));
        next = page.metadata?.continue || undefined;
      } while (next);
      return all;
    },

    patchWithTest: (what, read, change, write, first) =>
      patchWithTest(fail, what, read, change, write, first),
  };
}

/** ApiClient.patchWithTest, with `fail` naming its failures. */
async function patchWithTest<T extends { metadata?: { resourceVersion?: string } }, R>(
  fail: (what: string, error: unknown) => Error,
  what: string,
  read: () => Promise<T>,
  change: (current: T) => object[] | undefined,
  write: (patch: object[]) => Promise<R>,
  first?: T,
): Promise<R | undefined> {
  for (let attempt = 1; ; attempt++) {
    const current = await readForPatch(attempt === 1 ? first : undefined, read, what, fail);
    const patch = current === undefined ? undefined : withVersionTest(current, change(current));
    if (!patch) return undefined;
    // 422 or 409: the object changed between read and write; read it again.
    const written = await attempted(() => write(patch), attempt < patchAttempts);
    if (written.outcome === 'failed') throw fail(what, written.error);
    if (written.outcome !== 'changed-since') {
      return written.outcome === 'done' ? written.result : undefined;
    }
  }
}

/** The operations after a test that the object is still the version read; none when there are none. */
function withVersionTest(
  current: { metadata?: { resourceVersion?: string } },
  operations: object[] | undefined,
): object[] | undefined {
  if (!operations) return undefined;
  const version = current.metadata?.resourceVersion;
  return [{ op: 'test', path: '/metadata/resourceVersion', value: version }, ...operations];
}

/** How a write with preconditions ended. */
type Attempt<R> =
  | { readonly outcome: 'done'; readonly result: R }
  | { readonly outcome: 'gone' }
  /** 409 or 422: the object changed since it was read; read it again. */
  | { readonly outcome: 'changed-since' }
  | { readonly outcome: 'failed'; readonly error: unknown };

/** Runs a write whose preconditions name the object read; a conflict asks for another read. */
export async function attempted<R>(
  write: () => Promise<R>,
  mayRetry: boolean,
): Promise<Attempt<R>> {
  try {
    return { outcome: 'done', result: await write() };
  } catch (error) {
    const status = statusOf(error);
    if (status === 404) return { outcome: 'gone' };
    if ((status === 422 || status === 409) && mayRetry) return { outcome: 'changed-since' };
    return { outcome: 'failed', error };
  }
}

/** The object to patch: `first` when given, else read; undefined when it is gone. */
async function readForPatch<T>(
  first: T | undefined,
  read: () => Promise<T>,
  what: string,
  fail: (what: string, error: unknown) => Error,
): Promise<T | undefined> {
  if (first) return first;
  try {
    return await read();
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw fail(what, error);
  }
}
