import { afterAll, describe, expect, it } from 'vitest';
import { ebsCsiAttacherFinalizer } from '#functions/shared/identity/volume-attachment-name.ts';
import { endpoints } from '#support/environment.ts';
import { ignoreNotFound, TestCluster } from '#support/fixtures.ts';
import {
  autoScalingTerminateEvent,
  ec2StateChangeEvent,
  nodeLossFunction,
  sweepFunction,
} from '#support/functions-under-test.ts';
import { resultEventInbox } from '#support/result-events.ts';

const outOfService = 'node.kubernetes.io/out-of-service';

describe('node-loss on the real kube-apiserver and moto', () => {
  const cluster = TestCluster.create('node-loss', endpoints());
  afterAll(() => cluster.dispose());

  it('frees every volume of a terminated instance and reports it on the result bus', async () => {
    const inbox = await resultEventInbox();
    const node = await cluster.addNode();
    const volumes = [
      await cluster.addVolume(node, { provisioner: 'csi' }),
      await cluster.addVolume(node, { provisioner: 'csi' }),
      await cluster.addVolume(node, { provisioner: 'csi' }),
      await cluster.addVolume(node, { provisioner: 'in-tree' }),
    ];
    await cluster.terminateInstance(node);
    const remediator = nodeLossFunction(cluster, { RESULT_EVENT_BUS: inbox.busName });

    const result = await remediator.invoke(ec2StateChangeEvent(node.instanceId, 'terminated'));

    expect(result).toMatchObject({ status: 'done', instances: [{ outcome: 'remediated' }] });
    for (const volume of volumes) {
      expect(
        await ignoreNotFound(
          cluster.storage.readVolumeAttachment({ name: volume.volumeAttachmentName }),
        ),
      ).toBeUndefined();
      expect(await cluster.volume(volume.volumeId)).toEqual({ state: 'available', attachedTo: [] });
    }
    const delivered = await inbox.receive();
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({
      source: 'ebs-volume-remediator',
      'detail-type': 'EBS Volume Remediation Result',
      detail: {
        clusterName: cluster.name,
        instanceId: node.instanceId,
        outcome: 'remediated',
        summary: { attachmentsDeleted: 4, failures: 0 },
      },
    });
  });

  it('remediates the instance of an Auto Scaling "Terminate Successful" event', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);
    await cluster.terminateInstance(node);

    const result = await nodeLossFunction(cluster).invoke(
      autoScalingTerminateEvent(node.instanceId),
    );

    expect(result).toMatchObject({ status: 'done', instances: [{ outcome: 'remediated' }] });
    expect(await cluster.volumeAttachmentNames()).not.toContain(volume.volumeAttachmentName);
  });

  it('detaches the volumes of a stopped instance, taints its Node, and lifts the taint when it runs again', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);
    await cluster.stopInstance(node);
    const remediator = nodeLossFunction(cluster);

    await remediator.invoke(ec2StateChangeEvent(node.instanceId, 'stopped'));

    expect(await cluster.volume(volume.volumeId)).toEqual({ state: 'available', attachedTo: [] });
    expect(await cluster.volumeAttachmentNames()).not.toContain(volume.volumeAttachmentName);
    const tainted = await cluster.core.readNode({ name: node.nodeName });
    expect(tainted.spec?.taints).toContainEqual(
      expect.objectContaining({ key: outOfService, effect: 'NoExecute' }),
    );

    await cluster.startInstance(node);
    await remediator.invoke(ec2StateChangeEvent(node.instanceId, 'running'));

    const lifted = await cluster.core.readNode({ name: node.nodeName });
    expect(lifted.spec?.taints ?? []).not.toContainEqual(
      expect.objectContaining({ key: outOfService }),
    );
  });

  it('never acts on a "terminated" event for an instance EC2 reports running: reads EC2 again, then fails for the retry, changing nothing', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);

    // EC2 may lag behind its own event for seconds (eventual consistency): the event is read
    // again, then retried by Lambda, never dropped; a forged one ends in the dead-letter queue.
    const attempt = nodeLossFunction(cluster, { EC2_CATCH_UP_SECONDS: '2' }).invoke(
      ec2StateChangeEvent(node.instanceId, 'terminated'),
    );

    await expect(attempt).rejects.toThrow(
      /EC2 still reports i-[0-9a-f]+ running \d+ s after the event said terminated: .* retried/,
    );
    expect(await cluster.volume(volume.volumeId)).toEqual({
      state: 'in-use',
      attachedTo: [node.instanceId],
    });
    expect(await cluster.volumeAttachmentNames()).toContain(volume.volumeAttachmentName);
    expect(await cluster.taintsOf(node)).not.toContainEqual(
      expect.objectContaining({ key: outOfService }),
    );
  });

  it.each([
    ['a "terminated" event that EC2 has not caught up with', 'terminated'],
    ['a "shutting-down" event, watched', 'shutting-down'],
  ] as const)(
    'remediates %s as soon as EC2 reports the instance terminated, raising no refusal',
    async (_case, state) => {
      const node = await cluster.addNode();
      const volume = await cluster.addVolume(node);
      const event = ec2StateChangeEvent(node.instanceId, state);

      // EC2 says terminated two seconds into the invocation.
      const [result] = await Promise.all([
        nodeLossFunction(cluster).invoke(event),
        new Promise((resolve) => setTimeout(resolve, 2_000)).then(() =>
          cluster.terminateInstance(node),
        ),
      ]);

      expect(result).toMatchObject({
        status: 'done',
        instances: [{ outcome: 'remediated', state: 'terminated' }],
      });
      expect(await cluster.volumeAttachmentNames()).not.toContain(volume.volumeAttachmentName);
    },
  );

  it('reports a node whose instance is still shutting down at the end of the watch as waiting, not refused', async () => {
    const node = await cluster.addNode();
    await cluster.addVolume(node);

    const result = await nodeLossFunction(cluster, { SHUTDOWN_WATCH_SECONDS: '2' }).invoke(
      autoScalingTerminateEvent(node.instanceId),
    );

    expect(result).toMatchObject({
      status: 'done',
      instances: [{ outcome: 'waiting', state: 'running' }],
    });
  });

  it('refuses an operator’s remediate of a running instance and changes nothing', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);

    const result = await nodeLossFunction(cluster).invoke({
      action: 'remediate',
      instanceIds: [node.instanceId],
    });

    expect(result).toMatchObject({
      status: 'done',
      instances: [{ outcome: 'refused', state: 'running', actions: [] }],
    });
    expect(await cluster.volume(volume.volumeId)).toEqual({
      state: 'in-use',
      attachedTo: [node.instanceId],
    });
    expect(await cluster.volumeAttachmentNames()).toContain(volume.volumeAttachmentName);
  });

  it('removes the attacher finalizer of a VolumeAttachment that no attacher releases', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);
    await cluster.storage.deleteVolumeAttachment({ name: volume.volumeAttachmentName });
    await cluster.terminateInstance(node);

    const result = await nodeLossFunction(cluster).invoke(
      ec2StateChangeEvent(node.instanceId, 'terminated'),
    );

    expect(await cluster.volumeAttachmentNames()).not.toContain(volume.volumeAttachmentName);
    expect(result).toMatchObject({
      instances: [
        {
          actions: expect.arrayContaining([
            expect.objectContaining({ action: 'remove-finalizer', outcome: 'done' }),
          ]),
        },
      ],
    });
  });

  it('finds nothing to do on a repeated event; two deliveries at once both succeed and count each action once', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);
    await cluster.stopInstance(node);
    const event = ec2StateChangeEvent(node.instanceId, 'stopped');
    const remediator = nodeLossFunction(cluster);

    const [first, second] = await Promise.all([remediator.invoke(event), remediator.invoke(event)]);
    const replay = await remediator.invoke(event);

    expect([first.status, second.status]).toEqual(['done', 'done']);
    const done = (action: string) =>
      [first, second]
        .flatMap((r) => (r.status === 'done' ? r.instances.flatMap((i) => i.actions) : []))
        .filter((a) => a.action === action && a.outcome === 'done').length;
    expect(done('detach-volume')).toBe(1);
    expect(done('delete-volumeattachment')).toBe(1);
    expect(replay).toMatchObject({ status: 'done', instances: [{ outcome: 'nothing-to-do' }] });
    expect(await cluster.volume(volume.volumeId)).toEqual({ state: 'available', attachedTo: [] });
    expect(await cluster.volumeAttachmentNames()).not.toContain(volume.volumeAttachmentName);
  });

  it("leaves the root volume and another cluster's volume attached", async () => {
    const node = await cluster.addNode();
    const ours = await cluster.addVolume(node);
    const foreign = await cluster.attachForeignVolume(node);
    const root = await cluster.rootVolumeId(node);
    await cluster.stopInstance(node);

    const result = await nodeLossFunction(cluster).invoke(
      ec2StateChangeEvent(node.instanceId, 'stopped'),
    );

    expect(await cluster.volume(ours.volumeId)).toEqual({ state: 'available', attachedTo: [] });
    expect((await cluster.volume(foreign)).attachedTo).toEqual([node.instanceId]);
    expect((await cluster.volume(root)).attachedTo).toEqual([node.instanceId]);
    expect(result).toMatchObject({
      instances: [
        {
          skipped: expect.arrayContaining([
            expect.objectContaining({ name: root, reason: 'the root volume' }),
            expect.objectContaining({ name: foreign }),
          ]),
        },
      ],
    });
  });

  it("never detaches a volume that only the cluster's tag marks, and says why", async () => {
    const node = await cluster.addNode();
    const tagged = await cluster.attachClusterTaggedVolume(node);
    await cluster.stopInstance(node);

    const result = await nodeLossFunction(cluster).invoke(
      ec2StateChangeEvent(node.instanceId, 'stopped'),
    );

    expect((await cluster.volume(tagged)).attachedTo).toEqual([node.instanceId]);
    expect(result).toMatchObject({
      instances: [
        {
          skipped: expect.arrayContaining([
            expect.objectContaining({
              name: tagged,
              reason: expect.stringContaining('no PersistentVolume or VolumeAttachment'),
            }),
          ]),
        },
      ],
    });
  });

  it("refuses a Node in another Region's zone whose instance this Region's EC2 does not know", async () => {
    const elsewhere = await cluster.addPhantomNode('eu-west-1a');
    const volume = await cluster.addVolume(elsewhere);

    const result = await nodeLossFunction(cluster).invoke(
      ec2StateChangeEvent(elsewhere.instanceId, 'terminated'),
    );

    expect(result).toMatchObject({
      instances: [
        {
          outcome: 'refused',
          reason: expect.stringContaining("zone eu-west-1a is not in this function's Region"),
        },
      ],
    });
    expect(await cluster.volumeAttachmentNames()).toContain(volume.volumeAttachmentName);
  });

  it("keeps a volume on the new node it moved to, deleting only the dead node's attachment", async () => {
    const dead = await cluster.addNode();
    const successor = await cluster.addNode();
    const volume = await cluster.addVolume(dead);
    await cluster.terminateInstance(dead);
    const moved = await cluster.reattachVolume(volume, successor);

    await nodeLossFunction(cluster).invoke(ec2StateChangeEvent(dead.instanceId, 'terminated'));

    expect(await cluster.volume(volume.volumeId)).toEqual({
      state: 'in-use',
      attachedTo: [successor.instanceId],
    });
    const names = await cluster.volumeAttachmentNames();
    expect(names).toContain(moved.volumeAttachmentName);
    expect(names).not.toContain(volume.volumeAttachmentName);
  });

  it('leaves a live node alone when a dead stranger in another VPC has the same private DNS name', async () => {
    const stranger = await cluster.addNode({ taggedForCluster: false, withNodeObject: false });
    const live = await cluster.addNode({ nodeName: stranger.nodeName });
    const volume = await cluster.addVolume(live);
    await cluster.terminateInstance(stranger);

    const result = await nodeLossFunction(cluster).invoke(
      ec2StateChangeEvent(stranger.instanceId, 'terminated'),
    );

    expect(result).toMatchObject({ instances: [{ outcome: 'skipped' }] });
    expect(await cluster.volumeAttachmentNames()).toContain(volume.volumeAttachmentName);
    expect((await cluster.volume(volume.volumeId)).attachedTo).toEqual([live.instanceId]);
  });

  it('never taints or empties a Node that another instance’s kubelet adopted under the dead one’s name, and the sweep lifts our taint from it', async () => {
    // EC2 gave the terminated instance's private IP, and so its DNS name, to a new instance,
    // whose kubelet took over the Node left behind (no cloud node lifecycle): its providerID
    // still names the dead instance, its Lease is renewed again.
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node);
    const pod = await cluster.addPod(node, `adopted-${node.instanceId}`);
    await cluster.terminateInstance(node);
    const event = ec2StateChangeEvent(node.instanceId, 'terminated');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await cluster.renewLease(node);

    const result = await nodeLossFunction(cluster).invoke(event);

    expect(result).toMatchObject({
      status: 'done',
      instances: [{ outcome: 'refused', reason: expect.stringContaining('Lease was renewed') }],
    });
    expect(await cluster.taintsOf(node)).not.toContainEqual(
      expect.objectContaining({ key: outOfService }),
    );
    const still = await cluster.core.readNamespacedPod({ namespace: 'default', name: pod.name });
    expect(still.metadata).toMatchObject({ uid: pod.uid });
    expect(still.metadata?.deletionTimestamp).toBeUndefined();
    expect(await cluster.volumeAttachmentNames()).toContain(volume.volumeAttachmentName);

    // A taint of ours from before the adoption: the sweep finds the Node alive and lifts it.
    await cluster.core.patchNode({
      name: node.nodeName,
      body: [
        {
          op: 'add',
          path: '/spec/taints/-',
          value: { key: outOfService, value: 'ebs-volume-remediator', effect: 'NoExecute' },
        },
      ],
    });
    await cluster.renewLease(node);
    await cluster.setNodeReady(node, true);
    const swept = await sweepFunction(cluster).invoke({ action: 'sweep' });

    // The other tests' dead instances share this cluster; this one is the adopted Node's.
    const adopted =
      swept.status === 'swept'
        ? swept.sweep.instances.find((i) => i.instanceId === node.instanceId)
        : undefined;
    expect(adopted).toMatchObject({
      outcome: 'refused',
      actions: [{ action: 'lift-taint', outcome: 'done' }],
    });
    expect(await cluster.taintsOf(node)).not.toContainEqual(
      expect.objectContaining({ key: outOfService }),
    );
    expect(await cluster.volumeAttachmentNames()).toContain(volume.volumeAttachmentName);
  });

  it('frees every volume of a node whose node agents stay bound to it, and keeps only the one a staying pod uses', async () => {
    const node = await cluster.addNode();
    const free = await cluster.addVolume(node);
    const used = await cluster.addVolume(node, { claimName: `agent-data-${node.instanceId}` });
    const everything = [{ operator: 'Exists' }];
    // aws-node, kube-proxy, ebs-csi-node: tolerate every taint, stay bound to the dead Node.
    for (const agent of ['aws-node', 'kube-proxy', 'ebs-csi-node']) {
      await cluster.addPod(node, `${agent}-${node.instanceId}`, { tolerations: everything });
    }
    await cluster.addPod(node, `agent-${node.instanceId}`, {
      tolerations: everything,
      claimName: `agent-data-${node.instanceId}`,
    });
    await cluster.terminateInstance(node);

    // (The Node's deletion with DELETE_TERMINATED_NODES, agents staying, is proven on the full
    // control plane, control-plane/recovery.test.ts.)
    const result = await nodeLossFunction(cluster).invoke(
      ec2StateChangeEvent(node.instanceId, 'terminated'),
    );

    expect(result).toMatchObject({
      status: 'done',
      instances: [
        {
          outcome: 'remediated',
          skipped: [
            { kind: 'volume', name: used.volumeId, reason: expect.stringContaining('stays bound') },
          ],
        },
      ],
    });
    const names = await cluster.volumeAttachmentNames();
    expect(names).not.toContain(free.volumeAttachmentName);
    expect(names).toContain(used.volumeAttachmentName);
  });

  it('frees the volumes of EKS Auto Mode’s EBS driver as the EBS CSI driver’s', async () => {
    const node = await cluster.addNode();
    const volume = await cluster.addVolume(node, { provisioner: 'eks-auto-mode' });
    await cluster.stopInstance(node);

    const result = await nodeLossFunction(cluster, { ATTACHER_GRACE_SECONDS: '0.5' }).invoke(
      ec2StateChangeEvent(node.instanceId, 'stopped'),
    );

    expect(result).toMatchObject({ status: 'done', instances: [{ outcome: 'remediated' }] });
    // No attacher runs here: the remediator removed the Auto Mode attacher's finalizer itself.
    expect(await cluster.volumeAttachmentNames()).not.toContain(volume.volumeAttachmentName);
    expect(await cluster.volume(volume.volumeId)).toEqual({ state: 'available', attachedTo: [] });
  });

  it('finds the pods of a terminated instance’s deleted Node through its VolumeAttachments, and deletes them before the attachments', async () => {
    // The Node is gone and EC2 gives a terminated instance no DNS name: only the attachments
    // still carry the node name the pods are bound to.
    const node = await cluster.addNode({ withNodeObject: false, nodeName: `gone-${Date.now()}` });
    const volume = await cluster.addVolume(node);
    const pod = await cluster.addPod(node, `orphan-${node.instanceId}`);
    await cluster.terminateInstance(node);

    const result = await nodeLossFunction(cluster).invoke(
      ec2StateChangeEvent(node.instanceId, 'terminated'),
    );

    expect(result).toMatchObject({ status: 'done', instances: [{ outcome: 'remediated' }] });
    const actions = result.status === 'done' ? (result.instances[0]?.actions ?? []) : [];
    const order = actions.map((a) => a.action);
    expect(order.indexOf('delete-pod')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('delete-pod')).toBeLessThan(order.indexOf('delete-volumeattachment'));
    expect(
      await ignoreNotFound(
        cluster.core.readNamespacedPod({ namespace: 'default', name: pod.name }),
      ),
    ).toBeUndefined();
    expect(await cluster.volumeAttachmentNames()).not.toContain(volume.volumeAttachmentName);
  });

  it('in dry-run reports every action it would take and changes nothing', async () => {
    const node = await cluster.addNode();
    const volumes = [
      await cluster.addVolume(node),
      await cluster.addVolume(node, { provisioner: 'in-tree' }),
    ];
    await cluster.stopInstance(node);

    const result = await nodeLossFunction(cluster, { DRY_RUN: 'true' }).invoke(
      ec2StateChangeEvent(node.instanceId, 'stopped'),
    );

    expect(result).toMatchObject({
      status: 'done',
      dryRun: true,
      instances: [{ outcome: 'dry-run' }],
    });
    const planned = result.status === 'done' ? (result.instances[0]?.actions ?? []) : [];
    expect(planned.map((a) => `${a.action} ${a.volumeId ?? a.node}`).sort()).toEqual(
      [
        ...volumes.flatMap((v) => [
          `detach-volume ${v.volumeId}`,
          `delete-volumeattachment ${v.volumeId}`,
        ]),
        `taint-node ${node.nodeName}`,
      ].sort(),
    );
    expect(planned.every((a) => a.outcome === 'planned')).toBe(true);
    for (const volume of volumes) {
      expect((await cluster.volume(volume.volumeId)).attachedTo).toEqual([node.instanceId]);
      const attachment = await cluster.storage.readVolumeAttachment({
        name: volume.volumeAttachmentName,
      });
      expect(attachment.metadata?.deletionTimestamp).toBeUndefined();
      expect(attachment.metadata?.finalizers).toEqual([ebsCsiAttacherFinalizer]);
    }
    const untouched = await cluster.core.readNode({ name: node.nodeName });
    expect(untouched.spec?.taints ?? []).not.toContainEqual(
      expect.objectContaining({ key: outOfService }),
    );
  });
});

describe('node-loss with bad input or no cluster', () => {
  const cluster = TestCluster.create('node-loss-input', endpoints());

  it('skips a malformed event with a reason that names the bad field, without throwing', async () => {
    const event = ec2StateChangeEvent('i-0123456789abcdef0', 'terminated');

    const result = await nodeLossFunction(cluster).invoke({
      ...event,
      detail: { state: 'terminated' },
    });

    expect(result).toMatchObject({ status: 'skipped', kind: 'ec2-instance-state-change' });
    expect(result.status === 'skipped' && result.reason).toMatch(/instance-id/);
  });

  it('skips an unknown detail-type with a reason, without throwing', async () => {
    const event = {
      ...ec2StateChangeEvent('i-0123456789abcdef0', 'terminated'),
      'detail-type': 'EC2 Spot Instance Interruption Warning',
    };

    const result = await nodeLossFunction(cluster).invoke(event);

    expect(result).toEqual({
      status: 'skipped',
      kind: 'unknown',
      reason:
        'no parser for source "aws.ec2" and detail-type "EC2 Spot Instance Interruption Warning"',
    });
  });

  it('throws a message that names the unreachable cluster', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const path = join(mkdtempSync(join(tmpdir(), 'kubeconfig-')), 'unreachable.kubeconfig');
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: gone, cluster: {server: "https://127.0.0.1:9"}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: c, context: {cluster: gone, user: u}}]',
        'current-context: c',
      ].join('\n'),
    );
    const node = await cluster.addNode();
    await cluster.terminateInstance(node);

    const invoke = nodeLossFunction(cluster, { KUBECONFIG: path }).invoke(
      ec2StateChangeEvent(node.instanceId, 'terminated'),
    );

    await expect(invoke).rejects.toThrow(
      /Kubernetes API at https:\/\/127\.0\.0\.1:9 did not answer/,
    );
    await expect(invoke).rejects.toMatchObject({ name: 'ClusterAccessError' });
  });
});
