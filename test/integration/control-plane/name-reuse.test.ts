// EC2 reuses private IPs: a new instance can get a terminated one's DNS name, and on a cluster
// without a cloud node lifecycle its kubelet adopts the Node object left behind, whose
// providerID still names the dead instance. That Node is alive: a late event for the dead
// instance and the sweep must leave it and its pods alone, and say why (issue 23, rule 1).
import { afterAll, describe, expect, it } from 'vitest';
import { outOfServiceTaint } from '#functions/shared/remediation/out-of-service-taint.ts';
import { controlPlaneEndpoints } from '#support/environment.ts';
import { deliverDeathEvents } from '#support/eventbridge-delivery.ts';
import { nodeLossOnControlPlane, sweepOnControlPlane } from '#support/functions-under-test.ts';
import { waitUntil } from '#support/processes.ts';
import { StatefulCluster } from '#support/stateful-cluster.ts';

describe('a terminated node whose name a new instance took over', () => {
  let cluster: StatefulCluster | undefined;
  afterAll(() => cluster?.dispose());

  it('is never tainted or emptied, by a late event or the sweep: refused with the evidence', {
    timeout: 240_000,
  }, async () => {
    cluster = await StatefulCluster.start('name-reuse', controlPlaneEndpoints(), {
      replicas: 1,
      cloudNodeLifecycle: false,
    });
    const [replica] = cluster.replicas;
    if (!replica) throw new Error('the StatefulSet has no replica');
    const dead = await cluster.nodeOf(replica);
    const podUid = (await cluster.pod(replica))?.metadata?.uid;

    const diedAt = Date.now();
    await cluster.terminateInstance(dead);
    const newcomer = await cluster.adoptNode(dead);
    const adoptedAt = Date.now();
    await waitUntil(
      `the kubelet of ${newcomer} renewing the Lease of ${dead.nodeName}`,
      async () => ((await cluster?.leaseRenewedAt(dead.nodeName)) ?? 0) > adoptedAt,
      30_000,
      500,
    );

    // The terminated event, delivered late: after the adoption.
    const [late] = await deliverDeathEvents({
      ec2Endpoint: controlPlaneEndpoints().awsEndpoint,
      instanceId: dead.instanceId,
      since: diedAt,
      final: 'terminated',
      delivery: { order: 'final-only', duplicateFinal: false },
      invoke: (event) => nodeLossOnControlPlane(cluster?.name ?? '').invoke(event),
    });
    expect(late?.result).toMatchObject({
      status: 'done',
      instances: [
        {
          instanceId: dead.instanceId,
          outcome: 'refused',
          reason: expect.stringContaining('Lease was renewed'),
          actions: [],
        },
      ],
    });

    const swept = await sweepOnControlPlane(cluster).invoke({ action: 'sweep' });
    const report =
      swept.status === 'swept'
        ? swept.sweep.instances.find((i) => i.instanceId === dead.instanceId)
        : undefined;
    expect(report).toMatchObject({ outcome: 'refused', actions: [] });

    const node = await cluster.node(dead.nodeName);
    expect(node?.spec?.taints ?? []).not.toContainEqual(
      expect.objectContaining({ key: outOfServiceTaint.key }),
    );
    expect((await cluster.pod(replica))?.metadata).toMatchObject({ uid: podUid });
    expect((await cluster.pod(replica))?.metadata?.deletionTimestamp).toBeUndefined();
  });
});
