/** Waiting on other controllers and on EC2: polling with a growing gap, within a deadline. */
import { messageOf, RemediationError } from '../util/errors.ts';

export interface PollDeps {
  readonly sleep?: (ms: number) => Promise<void>;
  /** When the invocation must stop starting work (epoch ms): waits end there. */
  readonly deadline?: number;
}

/** A real wait: what every wait uses unless a test hands in its own. */
export const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How a wait ended: its condition met, or not, with the read that failed last if one did. */
export interface Waited {
  readonly met: boolean;
  /** The error of the last check, when that check failed (the state is then unknown). */
  readonly lastError?: unknown;
}

/**
 * Polls until `done` holds or `timeoutMs` passes: at once, then after 500 ms, the gap growing
 * 1.5x up to 3 s (a plain detach usually takes 1 to 4 s; the CSI driver polls much the same).
 * A check that fails (a 500, a reset) counts as "not yet": one bad read must not end a wait
 * that the next read would finish; the caller learns of it when the wait runs out.
 */
export async function pollUntil(
  done: () => Promise<boolean>,
  timeoutMs: number,
  deps: PollDeps,
  firstGap = 500,
  /** Wait one gap before the first check: for what cannot have happened a moment after our call. */
  waitFirst = false,
): Promise<Waited> {
  const sleep = deps.sleep ?? defaultSleep;
  const deadline = Math.min(Date.now() + timeoutMs, deps.deadline ?? Number.POSITIVE_INFINITY);
  let gap = firstGap;
  const check = async (): Promise<Waited> => {
    try {
      return { met: await done() };
    } catch (error) {
      return { met: false, lastError: error };
    }
  };
  if (waitFirst) {
    await sleep(Math.min(gap, Math.max(0, deadline - Date.now())));
    gap = Math.min(gap * 1.5, 3000);
  }
  while (Date.now() < deadline) {
    const result = await check();
    if (result.met) return result;
    await sleep(Math.min(gap, Math.max(0, deadline - Date.now())));
    gap = Math.min(gap * 1.5, 3000);
  }
  return check();
}

/** Throws, naming what was being checked, when the wait ended on a failed read. */
export function unlessUnknown(waited: Waited, checking: string): boolean {
  if (!waited.met && waited.lastError !== undefined) {
    throw new RemediationError(`${checking}: ${messageOf(waited.lastError)}`, {
      cause: waited.lastError,
    });
  }
  return waited.met;
}
