import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testRegion } from './endpoints.ts';
import { repoRoot } from './paths.ts';

/** A real event sample from events/, parsed. Vitest-free: the demo and benchmarks use it too. */
export function eventSample(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(repoRoot, 'events', file), 'utf8'));
}

/** The real EC2 state-change sample, for this instance and state, timed now. */
export function ec2StateChangeEvent(instanceId: string, state: string): Record<string, unknown> {
  const event = eventSample('ec2-instance-state-change-terminated.json');
  return {
    ...event,
    id: crypto.randomUUID(),
    time: new Date().toISOString(),
    region: testRegion,
    resources: [`arn:aws:ec2:${testRegion}:123456789012:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, state },
  };
}

/** The real Auto Scaling "EC2 Instance Terminate Successful" sample, for this instance. */
export function autoScalingTerminateEvent(instanceId: string): Record<string, unknown> {
  const event = eventSample('autoscaling-instance-terminate-successful.json');
  return {
    ...event,
    id: crypto.randomUUID(),
    time: new Date().toISOString(),
    detail: { ...(event.detail as object), EC2InstanceId: instanceId },
  };
}

/** The real "EC2 Instance-terminate Lifecycle Action" sample, for this instance, group and hook. */
export function lifecycleActionEvent(
  instanceId: string,
  autoScalingGroupName: string,
  lifecycleHookName: string,
  lifecycleActionToken: string,
): Record<string, unknown> {
  const event = eventSample('autoscaling-instance-terminate-lifecycle-action.json');
  return {
    ...event,
    id: crypto.randomUUID(),
    time: new Date().toISOString(),
    detail: {
      ...(event.detail as object),
      EC2InstanceId: instanceId,
      AutoScalingGroupName: autoScalingGroupName,
      LifecycleHookName: lifecycleHookName,
      LifecycleActionToken: lifecycleActionToken,
    },
  };
}
