// Sample: events/autoscaling-instance-terminate-lifecycle-action.json
// {"source":"aws.autoscaling","detail-type":"EC2 Instance-terminate Lifecycle Action",
//  "detail":{"LifecycleActionToken":"...","AutoScalingGroupName":"eks-workers",
//   "LifecycleHookName":"ebs-volume-remediator","EC2InstanceId":"i-...",
//   "LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING"}}

import * as z from 'zod/mini';
import { eventSources } from '../contract/event-sources.ts';
import { type EventParser, instanceIdSchema, malformed, type Request, shown } from './types.ts';

const detailSchema = z.object({
  LifecycleActionToken: z.string().check(z.minLength(1)),
  AutoScalingGroupName: z.string().check(z.minLength(1)),
  LifecycleHookName: z.string().check(z.minLength(1)),
  EC2InstanceId: instanceIdSchema,
  LifecycleTransition: z.string(),
});

const kind = 'autoscaling-lifecycle-action';

export const autoScalingLifecycleAction: EventParser = {
  ...eventSources.autoScalingTerminateLifecycleAction,
  parse(event, config): Request {
    const detail = detailSchema.safeParse(event.detail);
    if (!detail.success) return malformed(kind, detail.error);
    const d = detail.data;
    // Completing someone else's hook would cut their work short: only configured hooks.
    if (!config.lifecycleHookNames.includes(d.LifecycleHookName)) {
      return {
        type: 'skip',
        kind,
        reason: `lifecycle hook ${shown(d.LifecycleHookName)} is not one of LIFECYCLE_HOOK_NAMES (${config.lifecycleHookNames.join(', ') || 'none'}): left to its owner`,
      };
    }
    if (d.LifecycleTransition !== 'autoscaling:EC2_INSTANCE_TERMINATING') {
      return {
        type: 'skip',
        kind,
        reason: `transition ${shown(d.LifecycleTransition)}: nothing to do`,
      };
    }
    return {
      type: 'lifecycle',
      kind,
      lifecycleAction: {
        instanceId: d.EC2InstanceId,
        autoScalingGroupName: d.AutoScalingGroupName,
        lifecycleHookName: d.LifecycleHookName,
        lifecycleActionToken: d.LifecycleActionToken,
      },
      eventTime: new Date(event.time),
      reason: `Auto Scaling group ${shown(d.AutoScalingGroupName)} is terminating ${d.EC2InstanceId}`,
    };
  },
};
