import {
  type AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeLifecycleHooksCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import type { LifecycleAction } from '../events/types.ts';
import type { AutoScalingPort } from '../lifecycle/await-drain.ts';
import { RemediationError } from '../util/errors.ts';
import { cutOffOptions } from '../util/invocation-cut-off.ts';
import { awsFailure } from './aws-failure.ts';

/** Auto Scaling's answer for an action it no longer holds: completed, abandoned or timed out. */
function notActive(error: unknown): boolean {
  const { name, message } = error as { name?: string; message?: string };
  return name === 'ValidationError' && /No active Lifecycle Action/i.test(message ?? '');
}

/** The AutoScalingPort over the AWS SDK. */
export function createAutoScalingPort(client: AutoScalingClient): AutoScalingPort {
  const target = (action: LifecycleAction) => ({
    AutoScalingGroupName: action.autoScalingGroupName,
    LifecycleHookName: action.lifecycleHookName,
    LifecycleActionToken: action.lifecycleActionToken,
  });
  return {
    async heartbeatTimeoutSeconds(action) {
      try {
        const answer = await client.send(
          new DescribeLifecycleHooksCommand({
            AutoScalingGroupName: action.autoScalingGroupName,
            LifecycleHookNames: [action.lifecycleHookName],
          }),
          cutOffOptions(),
        );
        return answer.LifecycleHooks?.[0]?.HeartbeatTimeout;
      } catch (error) {
        throw new RemediationError(
          `describing hook ${action.lifecycleHookName} of group ${action.autoScalingGroupName}: ${awsFailure(error, 'Auto Scaling')}`,
          { cause: error },
        );
      }
    },
    async recordHeartbeat(action) {
      try {
        await client.send(
          new RecordLifecycleActionHeartbeatCommand(target(action)),
          cutOffOptions(),
        );
        return 'recorded';
      } catch (error) {
        if (notActive(error)) return 'not-active';
        throw new RemediationError(
          `recording a heartbeat for hook ${action.lifecycleHookName} of ${action.instanceId}: ${awsFailure(error, 'Auto Scaling')}`,
          { cause: error },
        );
      }
    },
    async complete(action, result) {
      try {
        await client.send(
          new CompleteLifecycleActionCommand({ ...target(action), LifecycleActionResult: result }),
          cutOffOptions(),
        );
        return 'completed';
      } catch (error) {
        if (notActive(error)) return 'not-active';
        throw new RemediationError(
          `completing hook ${action.lifecycleHookName} of ${action.instanceId}: ${awsFailure(error, 'Auto Scaling')}`,
          { cause: error },
        );
      }
    },
  };
}
