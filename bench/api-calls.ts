/**
 * Counts and times the API calls the remediator makes, at the client level: AWS SDK middleware
 * for AWS, undici's diagnostics channel for Kubernetes (what @kubernetes/client-node sends its
 * requests with).
 */
import { subscribe } from 'node:diagnostics_channel';
import type { EC2Client } from '@aws-sdk/client-ec2';

export interface ApiCall {
  readonly service: string;
  readonly operation: string;
  readonly start: number;
  readonly end: number;
}

interface UndiciRequest {
  readonly method: string;
  readonly origin: string | URL;
  readonly path: string;
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
    const origin = new URL(kubernetesOrigin).origin;
    subscribe('undici:request:create', (message) => {
      const { request } = message as { request: UndiciRequest };
      if (new URL(String(request.origin)).origin !== origin) return;
      this.open.set(request, {
        operation: kubernetesOperation(request.method, request.path),
        start: performance.now(),
      });
    });
    const finish = (message: unknown) => {
      const { request } = message as { request: UndiciRequest };
      const started = this.open.get(request);
      if (!started) return;
      this.open.delete(request);
      this.calls.push({ service: 'kubernetes', ...started, end: performance.now() });
    };
    subscribe('undici:request:trailers', finish);
    subscribe('undici:request:error', finish);
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
   * Sequential round trips: calls grouped into waves of overlapping calls; each wave had to wait
   * for the one before. Concurrent calls count once.
   */
  sequentialRoundTrips(): number {
    const sorted = [...this.calls].sort((a, b) => a.start - b.start);
    let waves = 0;
    let waveEnd = Number.NEGATIVE_INFINITY;
    for (const call of sorted) {
      if (call.start >= waveEnd) {
        waves++;
        waveEnd = call.end;
      } else {
        waveEnd = Math.max(waveEnd, call.end);
      }
    }
    return waves;
  }
}
