/**
 * The moment an invocation abandons the AWS and Kubernetes calls it still has in flight.
 *
 * The deadline (HandleOptions.deadline) stops an invocation from starting work; a call already
 * started can still outlast it (EC2's SDK retries a hung call up to 8 times, 10 s each). The
 * cut-off comes a little later, still ahead of the Lambda timeout: every call in flight is
 * aborted, the action fails naming the cut-off, and the invocation reports what it did and left
 * and throws, so Lambda's retry finishes the job. Without it Lambda would end the invocation
 * mid-call: no report, no result event, no metrics.
 *
 * The signal travels with the invocation's own async work (AsyncLocalStorage), so every port's
 * call picks it up without each call site threading it through; work outside an invocation
 * (the CLI, the tests' in-process functions) has none and runs unbounded, as before.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const current = new AsyncLocalStorage<AbortSignal>();

/** Runs `work` with its calls abandoned at `cutOffAt` (epoch ms). */
export function withCutOff<T>(cutOffAt: number, work: () => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Math.max(0, cutOffAt - Date.now()));
  return current.run(controller.signal, work).finally(() => clearTimeout(timer));
}

/** The running invocation's cut-off, to pass to a call (undefined outside an invocation). */
export function cutOffSignal(): AbortSignal | undefined {
  return current.getStore();
}

/** Whether the running invocation has reached its cut-off: a failed call was abandoned, not refused. */
export function cutOffReached(): boolean {
  return current.getStore()?.aborted === true;
}

/** What a call abandoned at the cut-off failed with, for the messages that name the call. */
export const cutOffText =
  "abandoned at the invocation's cut-off, shortly before the Lambda timeout (the retry of the event finishes it)";

/** The options that give an AWS SDK call the running invocation's cut-off. */
export function cutOffOptions(): { abortSignal?: AbortSignal } {
  const signal = current.getStore();
  return signal ? { abortSignal: signal } : {};
}
