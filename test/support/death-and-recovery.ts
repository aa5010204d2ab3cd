/**
 * One scenario of the recovery tests on the real control plane: a StatefulSet of two replicas,
 * one replica's instance dies, the node-loss function gets the event, and the recovery is
 * watched for one attach/detach controller sync period after it.
 */
import { controlPlaneEc2Log, controlPlaneEndpoints } from './environment.ts';
import { ec2StateChangeEvent, nodeLossOnControlPlane } from './functions-under-test.ts';
import { waitUntil } from './processes.ts';
import { beforeDeath, watchRecovery } from './recovery.ts';
import { StatefulCluster, sleep } from './stateful-cluster.ts';

/** One attach/detach controller sync period and a margin: time enough for it to undo. */
const oneSyncPeriodMs = 65_000;

export interface DeathScenario {
  readonly death: 'terminated' | 'stopped';
  readonly cloudNodeLifecycle: boolean;
  /** Deliver the event only once the cloud node lifecycle deleted the Node and PodGC the pod. */
  readonly late?: boolean;
  readonly settings?: Record<string, string>;
  /**
   * The CSI controller is lost with the node: taken down just before the death, brought back
   * this many seconds later (while the remediation runs).
   */
  readonly csiOutage?: {
    readonly seconds: number;
    readonly switchTo: (to: 'stop' | 'start') => Promise<void>;
  };
}

/** Runs the scenario; the cluster goes into `clusters` for the caller's cleanup. */
export async function deathAndRecovery(clusters: StatefulCluster[], options: DeathScenario) {
  const cluster = await StatefulCluster.start(`recover-${options.death}`, controlPlaneEndpoints(), {
    replicas: 2,
    cloudNodeLifecycle: options.cloudNodeLifecycle,
  });
  clusters.push(cluster);
  const [replica, other] = cluster.replicas;
  if (!replica || !other) throw new Error('the StatefulSet has fewer than 2 replicas');
  const before = await beforeDeath(cluster, replica);
  const otherNode = await cluster.nodeOf(other);

  const outage = options.csiOutage;
  if (outage) await outage.switchTo('stop');
  const csiBack = outage
    ? sleep(outage.seconds * 1000).then(() => outage.switchTo('start'))
    : Promise.resolve();
  const diedAt = Date.now();
  if (options.death === 'terminated') await cluster.terminateInstance(before.deadNode);
  else await cluster.stopInstance(before.deadNode);
  if (options.late) {
    await waitUntil(
      'the cloud node lifecycle deleting the Node and PodGC the old pod',
      async () =>
        (await cluster.node(before.deadNode.nodeName)) === undefined &&
        (await cluster.pod(replica))?.metadata?.uid !== before.oldUid,
      240_000,
      1_000,
    );
  }
  const eventAt = Date.now();
  const [result] = await Promise.all([
    nodeLossOnControlPlane(cluster.name, options.settings).invoke(
      ec2StateChangeEvent(before.deadNode.instanceId, options.death),
    ),
    csiBack,
  ]);
  const timeline = await watchRecovery({ ...before, diedAt }, controlPlaneEc2Log(), {
    timeoutMs: eventAt - diedAt + 120_000,
    settleMs: oneSyncPeriodMs,
  });
  const recoveredAfterEvent =
    timeline.replacementRunning === undefined
      ? undefined
      : timeline.replacementRunning - (eventAt - diedAt) / 1000;
  return { cluster, replica, other, otherNode, before, result, timeline, recoveredAfterEvent };
}
