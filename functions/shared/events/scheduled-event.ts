// Sample: events/scheduled-event.json
// {"source":"aws.events","detail-type":"Scheduled Event","time":"...","detail":{}}
import { eventSources } from '../contract/event-sources.ts';
import type { EventParser, Request } from './types.ts';

export const scheduledEvent: EventParser = {
  ...eventSources.scheduledEvent,
  parse(event): Request {
    return {
      type: 'sweep',
      kind: 'schedule',
      eventTime: new Date(event.time),
      reason: 'scheduled sweep',
    };
  },
};
