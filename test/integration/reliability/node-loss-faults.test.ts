// node-loss under faults injected between it and the real parts (fault-proxy.ts in front of moto
// and of the kube-apiserver): the first attempt ends done with nothing left, or throws a message
// that names the operation and the object after reporting what it did; a retry with the faults
// off finishes the job; a live bystander node is never touched in either.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FaultyEnvironment,
  startFaultyEnvironment,
  throttled,
} from '#support/faulty-environment.ts';
import { ec2StateChangeEvent, functionThrough } from '#support/functions-under-test.ts';

let env: FaultyEnvironment;
beforeAll(async () => {
  env = await startFaultyEnvironment('faults');
});
afterAll(() => env?.dispose());

/**
 * An instance with two CSI volumes, dead, and node-loss wired through the proxies. A stopped
 * instance keeps its volumes attached in EC2 (the remediator detaches them); a terminated one
 * has them released by EC2 itself.
 */
async function deadNodeWithVolumes(death: 'stopped' | 'terminated' = 'stopped') {
  const { node, volumes } = await env.deadNodeWithVolumes(death);
  const remediator = functionThrough('node-loss', env.cluster, env.through);
  return { node, volumes, remediator, event: ec2StateChangeEvent(node.instanceId, death) };
}

describe('node-loss under injected faults', { timeout: 120_000 }, () => {
  it('rides out EC2 throttling within its retries', async () => {
    const { volumes, remediator, event } = await deadNodeWithVolumes();

    const first = await env.attempt(remediator, event, [
      throttled(3, 'DescribeInstances'),
      throttled(2, 'DetachVolume'),
    ]);

    expect(first).toMatchObject({
      ended: 'done',
      result: { instances: [{ outcome: 'remediated' }] },
    });
    expect(first.faultsInjected).toBe(5);
    await env.expectFreed(volumes);
    await env.expectBystanderUntouched();
  });

  it('names the instance and the throttling when EC2 throttles past its retries, having done nothing; the retry does it all', async () => {
    const { node, volumes, remediator, event } = await deadNodeWithVolumes();

    const first = await env.attempt(remediator, event, [throttled(100, 'DescribeInstances')]);

    expect(first).toMatchObject({
      ended: 'threw',
      message: `describing instances ${node.instanceId}: throttled by EC2 after 8 attempts (RequestLimitExceeded)`,
    });
    for (const volume of volumes) {
      expect((await env.cluster.volume(volume.volumeId)).attachedTo).toEqual([node.instanceId]);
    }
    const retry = await env.attempt(remediator, event, []);
    expect(retry).toMatchObject({
      ended: 'done',
      result: { instances: [{ outcome: 'remediated' }] },
    });
    await env.expectFreed(volumes);
    await env.expectBystanderUntouched();
  });

  it('counts a detach whose answer was lost as its own, and finishes', async () => {
    const { volumes, remediator, event } = await deadNodeWithVolumes();

    const first = await env.attempt(remediator, event, [
      { awsAction: 'DetachVolume', fault: { kind: 'lost-answer' }, times: 1 },
    ]);

    expect(first.ended).toBe('done');
    const detaches =
      first.ended === 'done' && first.result.status === 'done'
        ? first.result.instances
            .flatMap((i) => i.actions)
            .filter((a) => a.action === 'detach-volume')
        : [];
    expect(detaches.map((a) => a.outcome)).toEqual(['done', 'done']);
    await env.expectFreed(volumes);
  });

  it('names the VolumeAttachment it could not delete, having freed the volumes in EC2; the retry finishes', async () => {
    const { volumes, remediator, event } = await deadNodeWithVolumes();

    const first = await env.attempt(remediator, event, [
      {
        kubeVerb: 'delete',
        path: /\/volumeattachments\//,
        fault: { kind: 'answer', status: 500, code: 'InternalError' },
        times: 1000,
      },
    ]);

    expect(first.ended).toBe('threw');
    expect(first.ended === 'threw' && first.message).toMatch(
      /deleting volumeattachment csi-[0-9a-f]+: Kubernetes API answered 500: InternalError: injected InternalError/,
    );
    for (const volume of volumes) {
      expect(await env.cluster.volume(volume.volumeId)).toEqual({
        state: 'available',
        attachedTo: [],
      });
    }
    const retry = await env.attempt(remediator, event, []);
    expect(retry.ended).toBe('done');
    await env.expectFreed(volumes);
    await env.expectBystanderUntouched();
  });

  it('reads a VolumeAttachment that changed since the list again, and deletes it in the same attempt', async () => {
    const { volumes, remediator, event } = await deadNodeWithVolumes();

    // The delete carries the uid and resourceVersion of the list; the apiserver answers 409 when
    // the object has changed since (the attacher's status, another run's deletion).
    const first = await env.attempt(remediator, event, [
      {
        kubeVerb: 'delete',
        path: /\/volumeattachments\//,
        fault: { kind: 'answer', status: 409, code: 'Conflict' },
        times: 1,
      },
    ]);

    expect(first).toMatchObject({
      ended: 'done',
      faultsInjected: 1,
      result: { instances: [{ outcome: 'remediated' }] },
    });
    await env.expectFreed(volumes);
  });

  it('reports the detaches and deletions done when a read fails while it waits for the attacher, then the retry finishes', async () => {
    const { volumes, remediator, event } = await deadNodeWithVolumes();

    const first = await env.attempt(remediator, event, [
      {
        kubeVerb: 'get',
        path: /\/volumeattachments\//,
        afterVerbOnSamePath: 'delete',
        fault: { kind: 'answer', status: 500, code: 'InternalError' },
        times: 1000,
      },
    ]);

    expect(first.ended).toBe('threw');
    expect(first.ended === 'threw' && first.message).toMatch(
      /reading VolumeAttachment csi-[0-9a-f]+ to see whether its attacher released it: .*InternalError: injected InternalError/,
    );
    const retry = await env.attempt(remediator, event, []);
    expect(retry).toMatchObject({
      ended: 'done',
      result: {
        instances: [
          {
            actions: expect.arrayContaining([
              expect.objectContaining({ action: 'remove-finalizer', outcome: 'done' }),
            ]),
          },
        ],
      },
    });
    await env.expectFreed(volumes);
    await env.expectBystanderUntouched();
  });

  it('waits out the apiserver’s 429 with Retry-After and finishes in one attempt', async () => {
    const { volumes, remediator, event } = await deadNodeWithVolumes();

    const first = await env.attempt(remediator, event, [
      {
        kubeVerb: 'list',
        fault: {
          kind: 'answer',
          status: 429,
          code: 'TooManyRequests',
          headers: { 'Retry-After': '1' },
        },
        times: 2,
      },
    ]);

    expect(first).toMatchObject({
      ended: 'done',
      result: { instances: [{ outcome: 'remediated' }] },
    });
    expect(first.faultsInjected).toBe(2);
    await env.expectFreed(volumes);
  });

  it('gives up on a hung apiserver request and says the API did not answer, then the retry finishes', async () => {
    const { node, volumes, remediator, event } = await deadNodeWithVolumes();

    const first = await env.attempt(remediator, event, [
      { kubeVerb: 'list', path: /\/pods$/, fault: { kind: 'hang' }, times: 1 },
    ]);

    expect(first.ended).toBe('threw');
    expect(first.ended === 'threw' && first.message).toMatch(
      new RegExp(
        `listing the pods of node ${node.nodeName}: the Kubernetes API at http://127\\.0\\.0\\.1:\\d+ did not answer`,
      ),
    );
    const retry = await env.attempt(remediator, event, []);
    expect(retry.ended).toBe('done');
    await env.expectFreed(volumes);
    await env.expectBystanderUntouched();
  });

  it('reads again and finishes when its taint patch meets a 409 conflict', async () => {
    const { node, volumes, remediator, event } = await deadNodeWithVolumes();

    const first = await env.attempt(remediator, event, [
      {
        kubeVerb: 'patch',
        path: /\/nodes\//,
        fault: { kind: 'answer', status: 409, code: 'Conflict' },
        times: 1,
      },
    ]);

    expect(first).toMatchObject({ ended: 'done', faultsInjected: 1 });
    expect((await env.cluster.taintsOf(node)).map((t) => t.key)).toContain(
      'node.kubernetes.io/out-of-service',
    );
    await env.expectFreed(volumes);
  });

  it('with the apiserver unreachable, names it and changes nothing in the cluster; the retry finishes', async () => {
    const { volumes, remediator, event } = await deadNodeWithVolumes();

    const first = await env.attempt(remediator, event, [
      { kubeVerb: undefined, fault: { kind: 'reset' }, times: 1000 },
    ]);

    expect(first).toMatchObject({
      ended: 'threw',
      message: expect.stringMatching(
        /the Kubernetes API at http:\/\/127\.0\.0\.1:\d+ did not answer/,
      ),
    });
    expect(await env.cluster.volumeAttachmentNames()).toEqual(
      expect.arrayContaining(volumes.map((v) => v.volumeAttachmentName)),
    );
    const retry = await env.attempt(remediator, event, []);
    expect(retry.ended).toBe('done');
    await env.expectFreed(volumes);
    await env.expectBystanderUntouched();
  });

  it('survives a truncated answer to a pod list, then the retry finishes', async () => {
    const { volumes, remediator, event } = await deadNodeWithVolumes();

    const first = await env.attempt(remediator, event, [
      { kubeVerb: 'list', path: /\/pods$/, fault: { kind: 'truncated' }, times: 1 },
    ]);

    if (first.ended === 'threw') expect(first.message).toMatch(/listing the pods of node/);
    const retry = await env.attempt(remediator, event, []);
    expect(retry.ended).toBe('done');
    await env.expectFreed(volumes);
    await env.expectBystanderUntouched();
  });
});
