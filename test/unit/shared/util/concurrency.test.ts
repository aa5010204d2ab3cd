import { describe, expect, it } from 'vitest';
import { createLimiter, mapConcurrently } from '#functions/shared/util/concurrency.ts';

/** A task that records how many tasks run at once. */
function tracker() {
  let running = 0;
  const stats = { max: 0 };
  const task = async <T>(value: T) => {
    running++;
    stats.max = Math.max(stats.max, running);
    await new Promise((resolve) => setTimeout(resolve, 5));
    running--;
    return value;
  };
  return { task, stats };
}

describe('createLimiter', () => {
  it('never runs more than its limit at once, and runs every task', async () => {
    const { task, stats } = tracker();
    const limit = createLimiter(3);

    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => limit(() => task(i))));

    expect(stats.max).toBe(3);
    expect(results).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('frees its place when a task fails', async () => {
    const limit = createLimiter(1);

    await expect(limit(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limit(async () => 'next')).toBe('next');
  });
});

describe('mapConcurrently', () => {
  it('keeps the order of its input while running at most `limit` at once', async () => {
    const { task, stats } = tracker();

    const results = await mapConcurrently([5, 4, 3, 2, 1], 2, task);

    expect(results).toEqual([5, 4, 3, 2, 1]);
    expect(stats.max).toBe(2);
  });
});
