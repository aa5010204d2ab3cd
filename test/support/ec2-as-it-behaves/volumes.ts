/**
 * Volumes as EC2 attaches and detaches them: AttachVolume refuses what EC2 refuses and moto
 * skips, attaching and detaching take time (moto is told of a detach only at its end, so the
 * volume stays in use meanwhile), and every attach and detach is logged.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InstanceStates } from './instances.ts';
import {
  answerAction,
  answerAsUpstream,
  answerError,
  answerXml,
  type Upstream,
} from './query-api.ts';
import type { Delays, Ec2Timings } from './timings.ts';
import { buildXml, items, setText, textOf } from './xml-tree.ts';

/** One line of the attach/detach log. */
export interface Ec2LogEntry {
  readonly time: string;
  readonly action: 'attach' | 'detach';
  readonly volumeId: string;
  readonly instanceId: string;
  /** The instance's state in EC2 when the call was made. */
  readonly instanceState: string;
}

/** Every attach and detach made through the layer so far, from its log. */
export function readEc2Log(path: string): Ec2LogEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Ec2LogEntry);
}

interface PendingVolumeChange {
  readonly instanceId: string;
  readonly status: 'attaching' | 'detaching';
  readonly until: number;
}

export class Volumes {
  private readonly changes = new Map<string, PendingVolumeChange>();

  private readonly upstream: Upstream;
  private readonly timings: Ec2Timings;
  private readonly delays: Delays;
  private readonly instances: InstanceStates;
  private readonly log: string;

  constructor(
    upstream: Upstream,
    timings: Ec2Timings,
    delays: Delays,
    instances: InstanceStates,
    log: string,
  ) {
    this.upstream = upstream;
    this.timings = timings;
    this.delays = delays;
    this.instances = instances;
    this.log = log;
  }

  async attach(
    req: IncomingMessage,
    body: Buffer,
    params: URLSearchParams,
    res: ServerResponse,
  ): Promise<void> {
    const volumeId = params.get('VolumeId') ?? '';
    const instanceId = params.get('InstanceId') ?? '';
    const volume = await this.read(volumeId);
    if (volume.answer.status >= 300) return answerAsUpstream(res, volume.answer);
    const instance = await this.instances.read([instanceId]);
    if (instance.answer.status >= 300) return answerAsUpstream(res, instance.answer);
    const { state, zone } = instance.instances.get(instanceId) ?? { state: 'running', zone: '' };
    if (volume.attachedTo.length > 0) {
      return answerError(res, 'VolumeInUse', `${volumeId} is already attached to an instance`);
    }
    if (volume.zone && zone && volume.zone !== zone) {
      return answerError(
        res,
        'InvalidVolume.ZoneMismatch',
        `The volume '${volumeId}' is not in the same availability zone as instance '${instanceId}'`,
      );
    }
    if (state !== 'running' && state !== 'stopped') {
      return answerError(
        res,
        'IncorrectInstanceState',
        `Instance '${instanceId}' is not 'running'.`,
      );
    }
    this.record({ action: 'attach', volumeId, instanceId, instanceState: state });
    const answer = await this.upstream.pass(body, req.headers);
    if (answer.status < 300) {
      this.changes.set(volumeId, {
        instanceId,
        status: 'attaching',
        until: Date.now() + this.timings.attachingMs,
      });
    }
    answerAsUpstream(res, answer);
  }

  async detach(params: URLSearchParams, res: ServerResponse): Promise<void> {
    const volumeId = params.get('VolumeId') ?? '';
    const asked = params.get('InstanceId') ?? undefined;
    const volume = await this.read(volumeId);
    if (volume.answer.status >= 300) return answerAsUpstream(res, volume.answer);
    const attachment = volume.attachedTo.find((a) => asked === undefined || a.instanceId === asked);
    if (!attachment) {
      return asked === undefined
        ? answerError(res, 'IncorrectState', `Volume '${volumeId}' is in the 'available' state.`)
        : answerError(
            res,
            'InvalidAttachment.NotFound',
            `Volume ${volumeId} can not be detached from ${asked} because it is not attached`,
          );
    }
    // A detach asked again while one is under way is answered as the first.
    if (this.changes.get(volumeId)?.status !== 'detaching') {
      await this.beginDetach(volumeId, attachment.instanceId);
    }
    answerAction(
      res,
      'DetachVolume',
      `<volumeId>${volumeId}</volumeId><instanceId>${attachment.instanceId}</instanceId>` +
        `<device>${attachment.device}</device><status>detaching</status>` +
        `<attachTime>${attachment.attachTime}</attachTime>`,
    );
  }

  /** DescribeVolumes: moto's answer, with attachments under way shown attaching or detaching. */
  async describe(req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    const answer = await this.upstream.pass(body, req.headers);
    if (!answer.root) return answerAsUpstream(res, answer);
    const now = Date.now();
    for (const volume of items(answer.root, 'volumeSet')) {
      const change = this.changes.get(textOf(volume, 'volumeId') ?? '');
      if (!change || (change.status === 'attaching' && now >= change.until)) continue;
      for (const attachment of items(volume, 'attachmentSet')) {
        if (textOf(attachment, 'instanceId') === change.instanceId) {
          setText(attachment, 'status', change.status);
        }
      }
    }
    answerXml(res, 200, buildXml([answer.root]));
  }

  private async beginDetach(volumeId: string, instanceId: string): Promise<void> {
    const instance = await this.instances.read([instanceId]);
    this.record({
      action: 'detach',
      volumeId,
      instanceId,
      instanceState: instance.instances.get(instanceId)?.state ?? 'unknown',
    });
    this.changes.set(volumeId, {
      instanceId,
      status: 'detaching',
      until: Date.now() + this.timings.detachingMs,
    });
    this.delays.after(this.timings.detachingMs, async () => {
      const result = await this.upstream.call('DetachVolume', {
        VolumeId: volumeId,
        InstanceId: instanceId,
        Force: 'true',
      });
      this.changes.delete(volumeId);
      // Gone already (the instance was terminated meanwhile): nothing left to detach.
      if (result.status >= 300 && !result.body.includes('InvalidAttachment.NotFound')) {
        throw new Error(result.body.toString('utf8'));
      }
    });
  }

  private async read(volumeId: string) {
    const answer = await this.upstream.call('DescribeVolumes', { 'VolumeId.1': volumeId });
    const volume = answer.root ? items(answer.root, 'volumeSet')[0] : undefined;
    return {
      answer,
      zone: volume ? textOf(volume, 'availabilityZone') : undefined,
      attachedTo: volume
        ? items(volume, 'attachmentSet').map((a) => ({
            instanceId: textOf(a, 'instanceId') ?? '',
            device: textOf(a, 'device') ?? '',
            attachTime: textOf(a, 'attachTime') ?? '',
          }))
        : [],
    };
  }

  private record(entry: Omit<Ec2LogEntry, 'time'>): void {
    appendFileSync(this.log, `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
  }
}
