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

export interface SeveralDeathsScenario {
  readonly death: 'terminated' | 'stopped';
  readonly cloudNodeLifecycle: boolean;
  /** How many of the StatefulSet's replicas lose their node at once. */
  readonly deaths: number;
  /** Replicas on nodes that stay alive. */
  readonly survivors: number;
}

/**
 * Several nodes of one zone die within a moment of each other, and node-loss gets one event for
 * each, all at once (as Lambda runs them). The recovery of every dead replica is watched, and
 * the survivors' pods are read again at the end.
 */
export async function severalDeathsAtOnce(
  clusters: StatefulCluster[],
  options: SeveralDeathsScenario,
) {
  const cluster = await StatefulCluster.start('recover-several', controlPlaneEndpoints(), {
    replicas: options.deaths + options.survivors,
    spareNodes: options.deaths,
    cloudNodeLifecycle: options.cloudNodeLifecycle,
  });
  clusters.push(cluster);
  const dying = cluster.replicas.slice(0, options.deaths);
  const surviving = cluster.replicas.slice(options.deaths);
  const befores = await Promise.all(dying.map((replica) => beforeDeath(cluster, replica)));
  const survivorsBefore = await Promise.all(
    surviving.map(async (replica) => ({
      replica,
      uid: (await cluster.pod(replica))?.metadata?.uid,
      node: await cluster.nodeOf(replica),
    })),
  );

  const diedAt = Date.now();
  await Promise.all(
    befores.map(({ deadNode }) =>
      options.death === 'terminated'
        ? cluster.terminateInstance(deadNode)
        : cluster.stopInstance(deadNode),
    ),
  );
  const results = await Promise.all(
    befores.map(({ deadNode }) =>
      nodeLossOnControlPlane(cluster.name).invoke(
        ec2StateChangeEvent(deadNode.instanceId, options.death),
      ),
    ),
  );
  const timelines = await Promise.all(
    befores.map((before) =>
      watchRecovery({ ...before, diedAt }, controlPlaneEc2Log(), {
        timeoutMs: 120_000,
        settleMs: oneSyncPeriodMs,
      }),
    ),
  );
  const survivorsAfter = await Promise.all(
    survivorsBefore.map(async ({ replica }) => ({
      uid: (await cluster.pod(replica))?.metadata?.uid,
      node: await cluster.nodeOf(replica),
      runningWithVolume: await cluster.isRunningWithVolume(replica),
    })),
  );
  return { cluster, befores, results, timelines, survivorsBefore, survivorsAfter };
}
