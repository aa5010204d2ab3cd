import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  EventsV1Api,
  StorageV1Api,
} from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { ebsCsiAttacherFinalizer } from '#functions/shared/identity/volume-attachment-name.ts';
import { readKubeconfigFile } from '#functions/shared/kubernetes/kubeconfig.ts';
import { createKubernetesPort } from '#functions/shared/kubernetes/kubernetes-port.ts';
import { endpoints, kubeConfig, kubeconfigPath } from '#support/environment.ts';
import { ignoreNotFound, TestCluster } from '#support/fixtures.ts';

async function statusOf(request: Promise<unknown>): Promise<number> {
  try {
    await request;
    return 200;
  } catch (error) {
    if (error instanceof ApiException) return error.code;
    throw error;
  }
}

describe('the kube-apiserver the tests run against', () => {
  const cluster = TestCluster.create('apiserver', endpoints());
  afterAll(() => cluster.dispose());

  it('keeps a deleted VolumeAttachment with the external-attacher finalizer until that finalizer is removed', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);
    const name = volume.volumeAttachmentName;

    await cluster.storage.deleteVolumeAttachment({ name });
    const terminating = await cluster.storage.readVolumeAttachment({ name });
    expect(terminating.metadata?.deletionTimestamp).toBeDefined();
    expect(terminating.metadata?.finalizers).toEqual([ebsCsiAttacherFinalizer]);

    await cluster.storage.patchVolumeAttachment({
      name,
      body: [{ op: 'remove', path: '/metadata/finalizers' }],
    });
    expect(await ignoreNotFound(cluster.storage.readVolumeAttachment({ name }))).toBeUndefined();
  });

  it('enforces RBAC: the remediator identity is refused Secrets, and may not create or change pods', async () => {
    const core = kubeConfig('remediator').makeApiClient(CoreV1Api);

    expect(await statusOf(core.listSecretForAllNamespaces())).toBe(403);
    expect(
      await statusOf(
        core.createNamespacedPod({
          namespace: 'default',
          body: {
            metadata: { name: 'rbac-probe' },
            spec: { containers: [{ name: 'c', image: 'i' }] },
          },
        }),
      ),
    ).toBe(403);
    expect(
      await statusOf(core.patchNamespacedPod({ namespace: 'default', name: 'p', body: [] })),
    ).toBe(403);
  });

  it('takes the Events the remediator writes, as `kubectl describe` then finds them, and their series', async () => {
    const node = await cluster.addNode();
    const uid = (await cluster.core.readNode({ name: node.nodeName })).metadata?.uid ?? '';
    const remediator = createKubernetesPort(readKubeconfigFile(kubeconfigPath('remediator')));
    const eventTime = Date.now();

    const written = await remediator.createEvent({
      regarding: { kind: 'Node', name: node.nodeName, uid },
      reason: 'OutOfServiceTaintApplied',
      action: 'TaintNode',
      note: 'added the out-of-service taint',
      type: 'Normal',
      reportingController: 'ebs-volume-remediator',
      reportingInstance: 'node-loss-fn',
      eventTime,
    });
    await remediator.patchEventSeries(written, 2, eventTime + 1000);

    // kubectl describe node lists core/v1 Events in every namespace by kind, name and uid.
    const found = await cluster.core.listEventForAllNamespaces({
      fieldSelector: `involvedObject.kind=Node,involvedObject.name=${node.nodeName},involvedObject.uid=${uid}`,
    });
    expect(found.items).toEqual([
      expect.objectContaining({
        reason: 'OutOfServiceTaintApplied',
        message: 'added the out-of-service taint',
        reportingComponent: 'ebs-volume-remediator',
        reportingInstance: 'node-loss-fn',
        series: expect.objectContaining({ count: 2 }),
      }),
    ]);
    expect(found.items[0]?.metadata.namespace).toBe('default');
    // And `kubectl get events -A --field-selector reportingComponent=...` lists them all.
    const ours = await cluster.core.listEventForAllNamespaces({
      fieldSelector: 'reportingComponent=ebs-volume-remediator',
    });
    expect(ours.items.map((e) => e.involvedObject.uid)).toContain(uid);
  });

  it('lets the remediator identity create and patch Events, and neither read nor delete them', async () => {
    const events = kubeConfig('remediator').makeApiClient(EventsV1Api);

    expect(await statusOf(events.listEventForAllNamespaces())).toBe(403);
    expect(
      await statusOf(events.deleteNamespacedEvent({ namespace: 'default', name: 'whatever' })),
    ).toBe(403);
  });

  it('grants the remediator identity what infra/kubernetes/rbac.yaml gives it', async () => {
    const remediator = kubeConfig('remediator');
    const storage = remediator.makeApiClient(StorageV1Api);
    const core = remediator.makeApiClient(CoreV1Api);

    expect(await statusOf(storage.listVolumeAttachment())).toBe(200);
    expect(await statusOf(core.listNode())).toBe(200);
    expect(await statusOf(core.listPersistentVolume())).toBe(200);
    // Pods: list (by node) and delete, to do PodGC's work for a dead Node.
    expect(
      await statusOf(core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=nowhere' })),
    ).toBe(200);
    expect(
      await statusOf(core.deleteNamespacedPod({ namespace: 'default', name: 'does-not-exist' })),
    ).toBe(404);
    // Read-only on PersistentVolumes: it must never delete the data's record.
    expect(await statusOf(core.deletePersistentVolume({ name: 'does-not-matter' }))).toBe(403);
    // Node Leases: read one, in kube-node-lease only, to tell a live kubelet on a dead instance's Node.
    const leases = remediator.makeApiClient(CoordinationV1Api);
    expect(
      await statusOf(
        leases.readNamespacedLease({ namespace: 'kube-node-lease', name: 'does-not-exist' }),
      ),
    ).toBe(404);
    expect(
      await statusOf(leases.readNamespacedLease({ namespace: 'default', name: 'does-not-exist' })),
    ).toBe(403);
  });
});
