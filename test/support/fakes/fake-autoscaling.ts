/**
 * A typed, stateful Auto Scaling port for unit tests: one lifecycle hook's heartbeat timeout and
 * whether it still holds its action, every call recorded, any call able to fail.
 */
import type { AutoScalingPort } from '#functions/shared/lifecycle/await-drain.ts';
import { CallLog } from './recorder.ts';

export interface FakeAutoScaling extends AutoScalingPort {
  readonly log: CallLog;
  /** Whether Auto Scaling still holds the action: heartbeats are recorded, completion is taken. */
  active(): boolean;
}

export function fakeAutoScaling(
  state: {
    /** The hook's heartbeat timeout; undefined when Auto Scaling does not know the hook. */
    hookTimeoutSeconds?: number | undefined;
    log?: CallLog;
  } = {},
): FakeAutoScaling {
  const log = state.log ?? new CallLog();
  let active = true;
  return {
    log,
    active: () => active,

    async heartbeatTimeoutSeconds(action) {
      log.enter('heartbeatTimeoutSeconds', [action]);
      return state.hookTimeoutSeconds;
    },

    async recordHeartbeat(action) {
      log.enter('recordHeartbeat', [action]);
      return active ? 'recorded' : 'not-active';
    },

    async complete(action, result) {
      log.enter('complete', [action, result]);
      if (!active) return 'not-active';
      active = false;
      return 'completed';
    },
  };
}
