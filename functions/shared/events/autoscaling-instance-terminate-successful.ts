// Sample: events/autoscaling-instance-terminate-successful.json
// {"source":"aws.autoscaling","detail-type":"EC2 Instance Terminate Successful",
//  "detail":{"AutoScalingGroupName":"eks-workers","EC2InstanceId":"i-1234567890abcdef0",...}}

import * as z from 'zod/mini';
import { eventSources } from '../contract/event-sources.ts';
import { type EventParser, instanceIdSchema, malformed, type Request, shown } from './types.ts';

const detailSchema = z.object({
  EC2InstanceId: instanceIdSchema,
  AutoScalingGroupName: z.optional(z.string()),
});

const kind = 'autoscaling-instance-terminate-successful';

export const autoScalingInstanceTerminateSuccessful: EventParser = {
  ...eventSources.autoScalingTerminateSuccessful,
  parse(event): Request {
    const detail = detailSchema.safeParse(event.detail);
    if (!detail.success) return malformed(kind, detail.error);
    const group = detail.data.AutoScalingGroupName;
    return {
      type: 'remediate',
      kind,
      instanceIds: [detail.data.EC2InstanceId],
      eventTime: new Date(event.time),
      // Sent once Auto Scaling let the instance go, often while EC2 still shuts it down.
      expects: { state: 'terminated', announced: false },
      reason: group
        ? `scaled in by Auto Scaling group ${shown(group)}`
        : 'scaled in by Auto Scaling',
    };
  },
};
