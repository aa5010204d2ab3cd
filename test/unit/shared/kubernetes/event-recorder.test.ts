import { describe, expect, it } from 'vitest';
import {
  createEventRecorder,
  type ObjectEvent,
  SeriesMemory,
  seriesWindowMs,
} from '#functions/shared/kubernetes/event-recorder.ts';
import { fakeKubernetes } from '#support/fakes/fake-kubernetes.ts';

const taintApplied: ObjectEvent = {
  regarding: { kind: 'Node', name: 'node-a', uid: 'uid-a' },
  reason: 'OutOfServiceTaintApplied',
  action: 'TaintNode',
  note: 'added the out-of-service taint',
  type: 'Normal',
};

/** A recorder over the fake cluster, with a clock the test moves. */
function recorderAt(start = 1_000_000) {
  const kube = fakeKubernetes();
  const clock = { now: start };
  const recorder = createEventRecorder(kube, {
    reportingInstance: 'node-loss-fn',
    now: () => clock.now,
    memory: new SeriesMemory(),
  });
  return { kube, clock, recorder };
}

describe('Kubernetes Events', () => {
  it('are written as events.k8s.io Events of this controller, on the object acted on', async () => {
    const { kube, recorder } = recorderAt();

    recorder.record(taintApplied);
    const flushed = await recorder.flush();

    expect(flushed).toEqual({ written: 1, failures: [] });
    expect(kube.events).toEqual([
      expect.objectContaining({
        ...taintApplied,
        namespace: 'default',
        reportingController: 'ebs-volume-remediator',
        reportingInstance: 'node-loss-fn',
        eventTime: 1_000_000,
      }),
    ]);
  });

  it('repeated within six minutes make one Event whose series counts them, as client-go does', async () => {
    const { kube, clock, recorder } = recorderAt();

    recorder.record(taintApplied);
    clock.now += 60_000;
    recorder.record(taintApplied);
    clock.now += 60_000;
    recorder.record(taintApplied);
    await recorder.flush();

    expect(kube.events).toHaveLength(1);
    expect(kube.events[0]?.series).toEqual({ count: 3, lastObservedTime: clock.now });
  });

  it('start a new Event once a series has been quiet for six minutes, or for another reason', async () => {
    const { kube, clock, recorder } = recorderAt();

    recorder.record(taintApplied);
    clock.now += seriesWindowMs;
    recorder.record(taintApplied);
    recorder.record({ ...taintApplied, reason: 'OutOfServiceTaintLifted', action: 'LiftTaint' });
    await recorder.flush();

    expect(kube.events.map((e) => [e.reason, e.series])).toEqual([
      ['OutOfServiceTaintApplied', undefined],
      ['OutOfServiceTaintApplied', undefined],
      ['OutOfServiceTaintLifted', undefined],
    ]);
  });

  it('that cannot be written are reported by the flush, never thrown, and tried again next time', async () => {
    const { kube, recorder } = recorderAt();
    kube.log.failNext('createEvent', new Error('events.k8s.io is forbidden'));

    recorder.record(taintApplied);
    const failed = await recorder.flush();
    recorder.record(taintApplied);
    const retried = await recorder.flush();

    expect(failed).toEqual({ written: 0, failures: ['events.k8s.io is forbidden'] });
    expect(retried).toEqual({ written: 1, failures: [] });
    expect(kube.events).toHaveLength(1);
  });

  it('start anew when the Event their series updates is gone (Events live an hour)', async () => {
    const { kube, clock, recorder } = recorderAt();
    recorder.record(taintApplied);
    await recorder.flush();
    kube.events.splice(0);

    clock.now += 1000;
    recorder.record(taintApplied);
    const lost = await recorder.flush();
    recorder.record(taintApplied);
    await recorder.flush();

    expect(lost.failures).toEqual([expect.stringContaining('not found')]);
    expect(kube.events).toHaveLength(1);
  });

  it('keep their note within the 1 kB the API allows', async () => {
    const { kube, recorder } = recorderAt();

    recorder.record({ ...taintApplied, note: 'x'.repeat(5000) });
    await recorder.flush();

    expect(kube.events[0]?.note).toHaveLength(1024);
  });
});
