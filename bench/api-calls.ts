/**
 * Counts and times the API calls the remediator makes, at the client level: AWS SDK middleware
 * for AWS, Node.js's HTTP client diagnostics channels for Kubernetes (what the functions'
 * Kubernetes client sends its requests with).
 */
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import type { EC2Client } from '@aws-sdk/client-ec2';

export interface ApiCall {
  readonly service: string;
  readonly operation: string;
  readonly start: number;
  readonly end: number;
}

const kubernetesResources = new Set(['nodes', 'volumeattachments', 'persistentvolumes']);

/** `DELETE volumeattachments/{name}`, `GET nodes`: the call without object names or query. */
export function kubernetesOperation(method: string, path: string): string {
  const segments = (path.split('?')[0] ?? '').split('/').filter(Boolean);
  const index = segments.findIndex((s) => kubernetesResources.has(s));
  if (index < 0) return `${method} ${segments.join('/')}`;
  const rest = segments.slice(index + 1).map((s, i) => (i === 0 ? '{name}' : s));
  return `${method} ${[segments[index], ...rest].join('/')}`;
}

export class ApiCallRecorder {
  calls: ApiCall[] = [];
  private readonly open = new WeakMap<object, { operation: string; start: number }>();

  constructor(kubernetesOrigin: string) {
    const { host } = new URL(kubernetesOrigin);
    subscribe('http.client.request.start', (message) => {
      const { request } = message as { request: ClientRequest };
      if (request.getHeader('host') !== host) return;
      this.open.set(request, {
        operation: kubernetesOperation(request.method, request.path),
        start: performance.now(),
      });
    });
    const finish = (message: unknown) => {
      const { request } = message as { request: ClientRequest };
      const started = this.open.get(request);
      if (!started) return;
      this.open.delete(request);
      this.calls.push({ service: 'kubernetes', ...started, end: performance.now() });
    };
    subscribe('http.client.response.finish', finish);
    subscribe('http.client.request.error', finish);
  }

  /** Times every command an AWS SDK client sends. */
  instrument(client: EC2Client, service: string): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const start = performance.now();
        try {
          return await next(args);
        } finally {
          const operation = String(context.commandName).replace(/Command$/, '');
          this.calls.push({ service, operation, start, end: performance.now() });
        }
      },
      { step: 'initialize', name: 'benchApiCallRecorder' },
    );
  }

  reset(): void {
    this.calls = [];
  }

  /** Calls by `service operation`, sorted by name. */
  byOperation(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const call of this.calls) {
      const key = `${call.service} ${call.operation}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
  }

  /**
   * Sequential round trips before the first call that changes something (a DetachVolume, a
   * Kubernetes PATCH or DELETE): counted from the event (the first call) and from cluster access
   * (the first Kubernetes request).
   */
  roundTripsToFirstChange(): { fromEvent: number; fromClusterAccess: number } {
    const changes = (call: ApiCall) =>
      call.operation === 'DetachVolume' || /^(PATCH|DELETE|POST|PUT) /.test(call.operation);
    const firstChange = Math.min(...this.calls.filter(changes).map((c) => c.start));
    const before = this.calls.filter((c) => c.start < firstChange);
    const clusterAccess = Math.min(
      ...before.filter((c) => c.service === 'kubernetes').map((c) => c.start),
    );
    return {
      fromEvent: waves(before),
      fromClusterAccess: waves(before.filter((c) => c.start >= clusterAccess)),
    };
  }

  /** How long at least one call to `service` (of `operation`, if given) was open: the time spent waiting on it. */
  busyMs(service: string, operation?: string): number {
    const sorted = this.calls
      .filter(
        (c) => c.service === service && (operation === undefined || c.operation === operation),
      )
      .sort((a, b) => a.start - b.start);
    let busy = 0;
    let openUntil = Number.NEGATIVE_INFINITY;
    for (const call of sorted) {
      busy += Math.max(0, call.end - Math.max(call.start, openUntil));
      openUntil = Math.max(openUntil, call.end);
    }
    return busy;
  }

  /** busyMs of each of the service's operations, the busiest first. */
  busyMsByOperation(service: string): Record<string, number> {
    const operations = new Set(
      this.calls.filter((c) => c.service === service).map((c) => c.operation),
    );
    return Object.fromEntries(
      [...operations]
        .map((operation) => [operation, Math.round(this.busyMs(service, operation))] as const)
        .sort(([, a], [, b]) => b - a),
    );
  }

  /**
   * Sequential round trips: calls grouped into waves of overlapping calls; each wave had to wait
   * for the one before. Concurrent calls count once.
   */
  sequentialRoundTrips(): number {
    return waves(this.calls);
  }
}

function waves(calls: readonly ApiCall[]): number {
  const sorted = [...calls].sort((a, b) => a.start - b.start);
  let count = 0;
  let waveEnd = Number.NEGATIVE_INFINITY;
  for (const call of sorted) {
    if (call.start >= waveEnd) {
      count++;
      waveEnd = call.end;
    } else {
      waveEnd = Math.max(waveEnd, call.end);
    }
  }
  return count;
}
