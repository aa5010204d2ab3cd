/** How long EC2 takes, in milliseconds. Zero everywhere is moto as it is. */
export interface Ec2Timings {
  readonly pendingMs: number;
  readonly stoppingMs: number;
  readonly shuttingDownMs: number;
  readonly describeLagMs: number;
  readonly attachingMs: number;
  readonly detachingMs: number;
}

/**
 * The timings the control-plane tests, the demo and the benchmarks run with: the quick end of
 * what EC2 shows, so the suite stays within its time and every transition is still seen.
 * Sources: EC2 User Guide, "Instance state changes" (pending, stopping and shutting-down last
 * seconds to minutes); EC2 API Reference, "Eventual consistency" (a few seconds); EBS User
 * Guide, "Attach a volume" / "Detach a volume" (attaching and detaching last seconds; the CSI
 * driver's own polling starts at 1 s for that reason). Each can be set with an environment
 * variable (`EC2_PENDING_SECONDS`, `EC2_STOPPING_SECONDS`, `EC2_SHUTTING_DOWN_SECONDS`,
 * `EC2_DESCRIBE_LAG_SECONDS`, `EC2_ATTACHING_SECONDS`, `EC2_DETACHING_SECONDS`).
 */
export const ec2Timings: Ec2Timings = {
  pendingMs: secondsFromEnvironment('EC2_PENDING_SECONDS', 5),
  stoppingMs: secondsFromEnvironment('EC2_STOPPING_SECONDS', 8),
  shuttingDownMs: secondsFromEnvironment('EC2_SHUTTING_DOWN_SECONDS', 8),
  describeLagMs: secondsFromEnvironment('EC2_DESCRIBE_LAG_SECONDS', 2),
  attachingMs: secondsFromEnvironment('EC2_ATTACHING_SECONDS', 2),
  detachingMs: secondsFromEnvironment('EC2_DETACHING_SECONDS', 4),
};

function secondsFromEnvironment(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback * 1000;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`${name} must be a number of seconds (0 or more), got ${JSON.stringify(raw)}`);
  }
  return seconds * 1000;
}

/** Work for later (the end of a transition), all cancelled when the layer stops. */
export class Delays {
  private readonly timers = new Set<NodeJS.Timeout>();

  after(ms: number, work: () => Promise<void>): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      work().catch((error: unknown) => {
        process.stderr.write(`EC2 layer: a delayed call to moto failed: ${String(error)}\n`);
      });
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  cancel(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  cancelAll(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
