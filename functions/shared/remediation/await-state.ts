/**
 * EC2's word catching up with an event's. DescribeInstances is eventually consistent: right
 * after a state change it may show the state before it for a few seconds. An event that
 * announces a state EC2 does not show yet is read again for a while, then retried by Lambda,
 * never dropped. An instance only on its way out (a `shutting-down` event, Auto Scaling's
 * "Terminate Successful", sent while EC2 still shuts the instance down) is watched until EC2
 * says it ended, within the invocation's budget.
 */
import { Ec2LagError } from '../util/errors.ts';
import { type InstanceFacts, type InstanceState, instanceAsReported } from './facts.ts';
import type { Ec2Port } from './ports.ts';

export type AwaitedState = 'terminated' | 'stopped' | 'running';

/** The states an instance shows on its way to each: EC2 showing one of them has not got there. */
const onTheWay: Readonly<Record<AwaitedState, ReadonlySet<InstanceState>>> = {
  terminated: new Set(['pending', 'running', 'stopping', 'stopped', 'shutting-down']),
  stopped: new Set(['pending', 'running', 'stopping']),
  running: new Set(['pending', 'stopping', 'stopped']),
};

/** What an event says EC2 will report for its instances. */
export interface Expectation {
  readonly state: AwaitedState;
  /**
   * The event announced this state: EC2 has reached it, its API may lag, and an instance still
   * shown on the way is retried. Otherwise the instance is only on its way there, and one that
   * does not get there within the budget is left to the event that will announce it.
   */
  readonly announced: boolean;
}

export interface AwaitOptions {
  /** How long to read again. */
  readonly timeoutMs: number;
  /** When the invocation must stop starting work (epoch ms). */
  readonly deadline?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The instances as EC2 reported them last, and when each was first seen in the awaited state. */
export interface Awaited {
  readonly instances: ReadonlyMap<string, InstanceFacts>;
  /** Instances that got there while watched: when EC2 was first seen to say so (epoch ms). */
  readonly reachedAt: ReadonlyMap<string, number>;
  /** Instances still on their way when the watch ended (never for an announced state). */
  readonly behind: readonly string[];
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Reads the instances from EC2 until each shows the expected state (or one past it), reading
 * again only those that do not: after 1 s, the gap growing to 5 s, so a minute's watch costs
 * about 15 calls (DescribeInstances shares one rate limit across the account).
 */
export async function awaitState(
  instanceIds: readonly string[],
  expected: Expectation,
  ec2: Pick<Ec2Port, 'describeInstances'>,
  options: AwaitOptions,
  /** EC2's answer of a moment ago for these instances, if the caller has one. */
  first?: ReadonlyMap<string, InstanceFacts>,
): Promise<Awaited> {
  const sleep = options.sleep ?? defaultSleep;
  const started = Date.now();
  const until = Math.min(started + options.timeoutMs, options.deadline ?? Number.POSITIVE_INFINITY);
  const instances = new Map(first ?? (await ec2.describeInstances(instanceIds)));
  const reachedAt = new Map<string, number>();
  const lagging = () =>
    instanceIds.filter((id) =>
      onTheWay[expected.state].has(instanceAsReported(instances, id).state),
    );
  let gap = 1000;
  for (let left = lagging(); left.length > 0 && Date.now() < until; left = lagging()) {
    await sleep(Math.min(gap, Math.max(0, until - Date.now())));
    gap = Math.min(gap * 1.5, 5000);
    const now = await ec2.describeInstances(left);
    for (const id of left) {
      const instance = instanceAsReported(now, id);
      instances.set(id, instance);
      if (!onTheWay[expected.state].has(instance.state)) {
        reachedAt.set(id, instance.describedAt ?? Date.now());
      }
    }
  }
  const behind = lagging();
  if (expected.announced && behind.length > 0) {
    const seconds = Math.round((Date.now() - started) / 1000);
    const shown = behind.map((id) => `${id} ${instanceAsReported(instances, id).state}`).join(', ');
    throw new Ec2LagError(
      `EC2 still reports ${shown} ${seconds} s after the event said ${expected.state}: ` +
        'DescribeInstances is eventually consistent, so the event is retried rather than dropped',
    );
  }
  return { instances, reachedAt, behind };
}
