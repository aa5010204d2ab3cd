/**
 * EventBridge's delivery of "EC2 Instance State-change Notification" events, as it really
 * behaves: one event per state EC2 passed through (shutting-down, then terminated; stopping,
 * then stopped), each with the time EC2 entered the state, delivered at least once (some twice)
 * and not always in order. The states and their times come from the EC2 layer's record
 * (ec2-as-it-behaves.ts), so the events say what EC2 did. Vitest-free.
 */
import { type Ec2Transition, transitionsPath } from './ec2-as-it-behaves/index.ts';
import { ec2StateChangeEvent } from './samples.ts';
import { sleep } from './stateful-cluster.ts';

export interface Delivery {
  /**
   * `in-order`: each event as its state is reached; `final-first`: the last state's event
   * first, the earlier ones after it; `final-only`: the last state's event alone (the earlier
   * ones were lost or are still to come).
   */
  readonly order: 'in-order' | 'final-first' | 'final-only';
  /** Delivers the final state's event a second time, a moment later (at-least-once delivery). */
  readonly duplicateFinal: boolean;
}

/** EventBridge as it usually is: every event, in order, the last one twice. */
export const atLeastOnce: Delivery = { order: 'in-order', duplicateFinal: true };

/**
 * One delivered event: the state it announced, EC2's time for it, when it was delivered, and
 * the invocation's result.
 */
export interface Delivered<R> {
  readonly state: Ec2Transition['state'];
  readonly at: number;
  readonly deliveredAt: number;
  readonly result: R;
}

/** What EventBridge sends for one state of one instance. */
export function stateChangeEventAt(transition: Ec2Transition): Record<string, unknown> {
  return {
    ...ec2StateChangeEvent(transition.instanceId, transition.state),
    time: new Date(transition.at).toISOString(),
  };
}

async function transitionsOf(ec2Endpoint: string, instanceId: string): Promise<Ec2Transition[]> {
  const answer = await fetch(`${ec2Endpoint}${transitionsPath}`);
  if (!answer.ok) throw new Error(`the EC2 layer answered HTTP ${answer.status}`);
  return ((await answer.json()) as Ec2Transition[]).filter((t) => t.instanceId === instanceId);
}

/**
 * Delivers to `invoke` the state-change events of the instance's death, from the state the
 * layer records after `since` until `final`, as `delivery` says; resolves with every
 * invocation, in the order of delivery.
 */
// biome-ignore lint/complexity/noExcessiveCognitiveComplexity: one delivery's schedule (order, duplicates, lateness) over the states EC2 recorded: the cases of the delivery model side by side, as the test-environment notes list them
export async function deliverDeathEvents<R>(options: {
  readonly ec2Endpoint: string;
  readonly instanceId: string;
  readonly since: number;
  readonly final: 'terminated' | 'stopped';
  readonly delivery: Delivery;
  readonly invoke: (event: Record<string, unknown>) => Promise<R>;
  readonly timeoutMs?: number;
}): Promise<Array<Delivered<R>>> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const delivered = new Set<string>();
  const invocations: Array<Promise<Delivered<R>>> = [];
  const deliver = (transition: Ec2Transition) => {
    delivered.add(transition.state);
    const deliveredAt = Date.now();
    invocations.push(
      options
        .invoke(stateChangeEventAt(transition))
        .then((result) => ({ state: transition.state, at: transition.at, deliveredAt, result })),
    );
  };
  for (;;) {
    const seen = (await transitionsOf(options.ec2Endpoint, options.instanceId)).filter(
      (t) => t.at >= options.since,
    );
    const final = seen.find((t) => t.state === options.final);
    if (options.delivery.order === 'in-order') {
      for (const t of seen) if (!delivered.has(t.state)) deliver(t);
    } else if (final) {
      deliver(final);
      if (options.delivery.order === 'final-first') {
        for (const t of seen) if (!delivered.has(t.state)) deliver(t);
      }
    }
    if (final) {
      if (options.delivery.duplicateFinal) {
        await sleep(1_000);
        deliver(final);
      }
      return Promise.all(invocations);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${options.instanceId} did not reach ${options.final} in EC2 within the delivery's time`,
      );
    }
    await sleep(200);
  }
}
