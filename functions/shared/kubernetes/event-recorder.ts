/**
 * Kubernetes Events, written beside the work and never in its way: `record` returns at once, the
 * writes go on in the background, and `flush` (once, when the invocation reports) waits for them
 * and says which failed. An Event that could not be written is logged and counted by the caller;
 * the remediation it tells of is not failed for it.
 *
 * Repeated Events make a series, as client-go's events recorder makes them: the same reason and
 * action on the same object, by the same controller, within six minutes of the last, patch the
 * first Event's `series` (count, last observed time) instead of creating another. The memory of
 * what was written lives as long as the cluster connection (a warm Lambda's invocations share
 * it; a cold start begins a new Event, as a restarted controller does).
 */
import { eventReportingController } from '../contract/kubernetes-events.ts';
import type { EventSink, KubernetesPort, ObjectEvent, WrittenEvent } from '../remediation/ports.ts';

export type { EventSink, ObjectEvent };

import { messageOf } from '../util/errors.ts';

/** What the background writes came to. */
export interface EventsFlushed {
  readonly written: number;
  /** Why each Event or series update that failed did. */
  readonly failures: readonly string[];
}

export interface EventRecorder extends EventSink {
  /** Waits for every write recorded so far. Never rejects. */
  flush(): Promise<EventsFlushed>;
}

/** client-go ends a series six minutes after its last Event; the next one starts a new Event. */
export const seriesWindowMs = 6 * 60_000;

/** The API caps a note at 1 kB. */
const noteLimit = 1024;

interface Series {
  /** The Event the series updates; undefined when it could not be written. */
  readonly first: Promise<WrittenEvent | undefined>;
  count: number;
  lastObserved: number;
}

/** What was written, by what makes Events one series; bounded, oldest forgotten first. */
export class SeriesMemory {
  private readonly series = new Map<string, Series>();
  private readonly limit: number;

  constructor(limit = 1000) {
    this.limit = limit;
  }

  get(key: string): Series | undefined {
    return this.series.get(key);
  }

  set(key: string, series: Series): void {
    this.series.delete(key);
    this.series.set(key, series);
    while (this.series.size > this.limit) {
      const oldest = this.series.keys().next().value;
      if (oldest === undefined) break;
      this.series.delete(oldest);
    }
  }

  delete(key: string): void {
    this.series.delete(key);
  }
}

/**
 * The memory of the Events written through each cluster connection: a warm container's
 * invocations share their connection, and so their series; a new connection (another endpoint)
 * starts afresh.
 */
const memories = new WeakMap<object, SeriesMemory>();

function memoryOf(kube: object): SeriesMemory {
  let memory = memories.get(kube);
  if (!memory) {
    memory = new SeriesMemory();
    memories.set(kube, memory);
  }
  return memory;
}

export interface EventRecorderOptions {
  /** The writer's own name (`reportingInstance`): the function's. */
  readonly reportingInstance: string;
  readonly now?: () => number;
  readonly memory?: SeriesMemory;
}

/** client-go keys a series by the object, the reason, the action and the controller. */
function seriesKey({ regarding, reason, action }: ObjectEvent): string {
  return JSON.stringify([
    regarding.kind,
    regarding.namespace,
    regarding.name,
    regarding.uid,
    reason,
    action,
  ]);
}

function truncated(note: string): string {
  return note.length <= noteLimit ? note : `${note.slice(0, noteLimit - 1)}…`;
}

export function createEventRecorder(
  kube: Pick<KubernetesPort, 'createEvent' | 'patchEventSeries'>,
  { reportingInstance, now = Date.now, memory = memoryOf(kube) }: EventRecorderOptions,
): EventRecorder {
  let pending: Promise<void>[] = [];
  let written = 0;
  let failures: string[] = [];
  const attempt = async (write: () => Promise<unknown>) => {
    try {
      await write();
      written += 1;
    } catch (error) {
      failures.push(messageOf(error));
    }
  };

  function startSeries(key: string, event: ObjectEvent, at: number): void {
    let first: WrittenEvent | undefined;
    const write = attempt(async () => {
      first = await kube.createEvent({
        ...event,
        note: truncated(event.note),
        reportingController: eventReportingController,
        reportingInstance,
        eventTime: at,
      });
    });
    pending.push(write);
    // A failed Event is forgotten, so the next one tries again.
    const series: Series = {
      first: write.then(() => {
        if (!first) memory.delete(key);
        return first;
      }),
      count: 1,
      lastObserved: at,
    };
    memory.set(key, series);
  }

  function continueSeries(key: string, series: Series, event: ObjectEvent, at: number): void {
    series.count += 1;
    series.lastObserved = at;
    const count = series.count;
    pending.push(
      attempt(async () => {
        const first = await series.first;
        if (!first) {
          throw new Error(
            `event ${event.reason} on ${event.regarding.name} again: its first was not written`,
          );
        }
        try {
          await kube.patchEventSeries(first, count, at);
        } catch (error) {
          // The first Event may be gone (Events live an hour): the next repeat starts anew.
          memory.delete(key);
          throw error;
        }
      }),
    );
  }

  return {
    record({ at: happened, ...event }) {
      const at = happened ?? now();
      const key = seriesKey(event);
      const series = memory.get(key);
      if (series && at - series.lastObserved < seriesWindowMs)
        continueSeries(key, series, event, at);
      else startSeries(key, event, at);
    },

    async flush() {
      const waiting = pending;
      pending = [];
      await Promise.all(waiting);
      const result = { written, failures };
      written = 0;
      failures = [];
      return result;
    },
  };
}
