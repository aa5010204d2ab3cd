/**
 * A typed, stateful EC2 port for unit tests: instances and volumes held in memory, every call
 * recorded, any call able to fail. Tests change its state, or override one method for a
 * behaviour of their own (`{ ...ec2, detachVolume: ... }`: the methods close over the state,
 * so the others go on working on it).
 */
import type {
  InstanceFacts,
  InstanceState,
  VolumeFacts,
} from '#functions/shared/remediation/facts.ts';
import type { Ec2Port } from '#functions/shared/remediation/ports.ts';
import { CallLog } from './recorder.ts';

export interface FakeEc2 extends Ec2Port {
  readonly log: CallLog;
  /** The instances EC2 knows; any other is `gone`. */
  readonly instances: Map<string, InstanceFacts>;
  readonly volumes: Map<string, VolumeFacts>;
  /** An instance as EC2 reports it: `gone` when it does not know it. */
  instance(instanceId: string): InstanceFacts;
  /** Sets an instance's state. */
  setState(instanceId: string, state: InstanceState): void;
  /** DescribeInstances answers these states in turn; the last one stays. */
  answerStates(instanceId: string, ...states: InstanceState[]): void;
}

export function fakeEc2(
  state: {
    instances?: readonly InstanceFacts[];
    volumes?: readonly VolumeFacts[];
    region?: string;
    /** Shared with other fakes to see the order of calls across ports. */
    log?: CallLog;
  } = {},
): FakeEc2 {
  const log = state.log ?? new CallLog();
  const instances = new Map((state.instances ?? []).map((i) => [i.instanceId, i]));
  const volumes = new Map((state.volumes ?? []).map((v) => [v.volumeId, v]));
  const upcoming = new Map<string, InstanceState[]>();
  const instance = (instanceId: string): InstanceFacts =>
    instances.get(instanceId) ?? { instanceId, state: 'gone', tags: {} };
  const setState = (instanceId: string, next: InstanceState) => {
    instances.set(instanceId, { ...instance(instanceId), state: next });
  };

  return {
    log,
    instances,
    volumes,
    instance,
    setState,
    answerStates(instanceId, ...states) {
      upcoming.set(instanceId, [...states]);
    },

    async region() {
      log.enter('region', []);
      return state.region ?? 'us-east-1';
    },

    /** As EC2 reports them now, each stamped with when it was answered (as the real port does). */
    async describeInstances(instanceIds) {
      log.enter('describeInstances', [instanceIds]);
      for (const id of instanceIds) {
        const next = upcoming.get(id)?.shift();
        if (next) setState(id, next);
      }
      const describedAt = Date.now();
      return new Map(instanceIds.map((id) => [id, { ...instance(id), describedAt }]));
    },

    async instanceStates(instanceIds) {
      log.enter('instanceStates', [instanceIds]);
      return new Map(instanceIds.map((id) => [id, instance(id).state]));
    },

    async describeVolumesAttachedTo(instanceIds) {
      log.enter('describeVolumesAttachedTo', [instanceIds]);
      return [...volumes.values()].filter((v) =>
        v.attachments.some((a) => instanceIds.includes(a.instanceId)),
      );
    },

    async describeVolumes(volumeIds) {
      log.enter('describeVolumes', [volumeIds]);
      return volumeIds.flatMap((id) => {
        const volume = volumes.get(id);
        return volume ? [volume] : [];
      });
    },

    /** Detaches at once: the volume keeps no attachment to that instance. */
    async detachVolume(volumeId, instanceId, force) {
      log.enter('detachVolume', [volumeId, instanceId, force]);
      const volume = volumes.get(volumeId);
      if (!volume?.attachments.some((a) => a.instanceId === instanceId)) return 'already-detached';
      const attachments = volume.attachments.filter((a) => a.instanceId !== instanceId);
      volumes.set(volumeId, { ...volume, attachments });
      return 'detaching';
    },
  };
}
