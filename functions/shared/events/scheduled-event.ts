// Sample: events/scheduled-event.json
// {"source":"aws.events","detail-type":"Scheduled Event","time":"...","detail":{}}
import type { EventParser, Request } from './types.ts';

export const scheduledEvent: EventParser = {
  source: 'aws.events',
  detailType: 'Scheduled Event',
  parse(event): Request {
    return {
      type: 'sweep',
      kind: 'schedule',
      eventTime: new Date(event.time),
      reason: 'scheduled sweep',
    };
  },
};
