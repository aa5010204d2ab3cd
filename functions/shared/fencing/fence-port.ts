/** The EC2 calls of the fence, and nothing more: the remediation's own calls are Ec2Port's. */

/** EC2's status checks of a running instance, as DescribeInstanceStatus reports them. */
export interface StatusChecks {
  readonly system: string;
  readonly instance: string;
  readonly attachedEbs?: string;
}

/** An instance that carries the fence tag. */
export interface FencedInstance {
  readonly instanceId: string;
  /** The tag's time (epoch ms). */
  readonly fencedAt: number;
  readonly tags: Readonly<Record<string, string>>;
}

export interface FencePort {
  /** The status checks of these instances; an instance EC2 has none for (not running) is left out. */
  statusChecks(instanceIds: readonly string[]): Promise<Map<string, StatusChecks>>;
  /** Every instance of the account that carries the fence tag, whatever its time. */
  fencedInstances(): Promise<FencedInstance[]>;
  /** Tags the instance as fenced at this time: the rate limit's record. */
  markFenced(instanceId: string, at: number): Promise<void>;
  /**
   * Stops the instance (forced: a hung guest does not shut down cleanly) or terminates it.
   * Resolves `not-running` when EC2 refuses because the instance is no longer running.
   */
  fence(instanceId: string, action: 'stop' | 'terminate'): Promise<'fencing' | 'not-running'>;
}
