// Sample: events/ec2-instance-state-change-terminated.json
// {"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification",
//  "time":"2021-11-11T21:29:54Z","detail":{"instance-id":"i-1234567890abcdef0","state":"terminated"}}

import * as z from 'zod/mini';
import { eventSources } from '../contract/event-sources.ts';
import { type EventParser, instanceIdSchema, malformed, type Request } from './types.ts';

const detailSchema = z.object({
  'instance-id': instanceIdSchema,
  state: z.enum(['pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated']),
});

const kind = 'ec2-instance-state-change';

export const ec2InstanceStateChange: EventParser = {
  ...eventSources.ec2InstanceStateChange,
  parse(event, config): Request {
    const detail = detailSchema.safeParse(event.detail);
    if (!detail.success) return malformed(kind, detail.error);
    const instanceId = detail.data['instance-id'];
    const state = detail.data.state;
    const eventTime = new Date(event.time);
    const about = { kind, instanceIds: [instanceId], eventTime } as const;
    switch (state) {
      case 'shutting-down':
        return {
          type: 'remediate',
          ...about,
          expects: { state: 'terminated', announced: false },
          reason: `instance ${state}`,
        };
      case 'terminated':
        return {
          type: 'remediate',
          ...about,
          diedAt: eventTime,
          expects: { state, announced: true },
          reason: `instance ${state}`,
        };
      case 'stopped':
        return config.onStopped === 'remediate'
          ? {
              type: 'remediate',
              ...about,
              diedAt: eventTime,
              expects: { state, announced: true },
              reason: 'instance stopped',
            }
          : { type: 'skip', kind, reason: 'instance stopped, and ON_STOPPED is ignore' };
      case 'running':
        return {
          type: 'lift-taint',
          ...about,
          expects: { state, announced: true },
          reason: 'instance running again',
        };
      case 'pending':
      case 'stopping':
        return { type: 'skip', kind, reason: `instance ${state}: nothing to do yet` };
    }
  },
};
