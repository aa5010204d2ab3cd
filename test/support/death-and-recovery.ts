/**
 * One scenario of the recovery tests on the real control plane: a StatefulSet of two replicas,
 * one replica's instance dies (taking EC2's time to do so), the node-loss function gets the
 * state-change events as EventBridge delivers them, and the recovery is watched for one
 * attach/detach controller sync period after it.
 */

import type { ActionKind, ActionRecord } from '#functions/shared/contract/result-events.ts';
import type { InvocationResult } from '#functions/shared/handle-input.ts';
import { controlPlaneEc2Log, controlPlaneEndpoints } from './environment.ts';
import {
  atLeastOnce,
  type Delivered,
  type Delivery,
  deliverDeathEvents,
} from './eventbridge-delivery.ts';
import { nodeLossOnControlPlane } from './functions-under-test.ts';
import { waitUntil } from './processes.ts';
import { beforeDeath, watchRecovery } from './recovery.ts';
import { StatefulCluster, type StatefulClusterOptions, sleep } from './stateful-cluster.ts';

/** One attach/detach controller sync period and a margin: time enough for it to undo. */
const oneSyncPeriodMs = 65_000;

export interface DeathScenario {
  readonly death: 'terminated' | 'stopped';
  readonly cloudNodeLifecycle: boolean;
  /** The volumes' CSI driver (default ebs.csi.aws.com). */
  readonly driver?: StatefulClusterOptions['driver'];
  /**
   * Deliver only the final event, and only once the cloud node lifecycle deleted the Node and
   * PodGC the pod.
   */
  readonly late?: boolean;
  /** How EventBridge delivers the events (default: every one, in order, the last twice). */
  readonly delivery?: Delivery;
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
    ...(options.driver ? { driver: options.driver } : {}),
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
  const dying =
    options.death === 'terminated'
      ? cluster.terminateInstance(before.deadNode)
      : cluster.stopInstance(before.deadNode);
  // Watched from the death, beside the deliveries: an invocation follows the replacement until
  // it runs (RECOVERY_WATCH_SECONDS), so the recovery is over before the last delivery returns.
  const watching = watchRecovery({ ...before, diedAt }, controlPlaneEc2Log(), {
    timeoutMs: (options.late ? 240_000 : 0) + 180_000,
    settleMs: oneSyncPeriodMs,
  });
  if (options.late) {
    await dying;
    await waitUntil(
      'the cloud node lifecycle deleting the Node and PodGC the old pod',
      async () =>
        (await cluster.node(before.deadNode.nodeName)) === undefined &&
        (await cluster.pod(replica))?.metadata?.uid !== before.oldUid,
      240_000,
      1_000,
    );
  }
  const [deliveries] = await Promise.all([
    deliverDeathEvents({
      ec2Endpoint: controlPlaneEndpoints().awsEndpoint,
      instanceId: before.deadNode.instanceId,
      since: diedAt,
      final: options.death,
      delivery: options.late
        ? { order: 'final-only', duplicateFinal: false }
        : (options.delivery ?? atLeastOnce),
      invoke: (event) => nodeLossOnControlPlane(cluster.name, options.settings).invoke(event),
    }),
    dying,
    csiBack,
  ]);
  // When the final state's event was first delivered (EC2 reached that state a moment before).
  const eventAt = deliveries.find((d) => d.state === options.death)?.deliveredAt ?? diedAt;
  const timeline = await watching;
  const recoveredAfterEvent =
    timeline.replacementRunning === undefined
      ? undefined
      : timeline.replacementRunning - (eventAt - diedAt) / 1000;
  return {
    cluster,
    replica,
    other,
    otherNode,
    before,
    diedAt,
    deliveries,
    timeline,
    recoveredAfterEvent,
  };
}

/** The invocations for the event of the final state (duplicates included). */
export function finalResults(
  deliveries: ReadonlyArray<Delivered<InvocationResult>>,
  death: 'terminated' | 'stopped',
): InvocationResult[] {
  return deliveries.filter((d) => d.state === death).map((d) => d.result);
}

/** The actions of `kind` that all the deliveries' invocations together did (outcome done). */
export function actionsDone(
  deliveries: ReadonlyArray<Delivered<InvocationResult>>,
  kind: ActionKind,
): ActionRecord[] {
  return deliveries.flatMap((d) =>
    d.result.status === 'done'
      ? d.result.instances.flatMap((i) =>
          i.actions.filter((a) => a.action === kind && a.outcome === 'done'),
        )
      : [],
  );
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
 * Several nodes of one zone die within seconds of each other, and node-loss gets their events
 * as EventBridge delivers them, concurrently (as Lambda runs them). The recovery of every dead replica is watched, and
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

  // A second apart, each instance's events delivered another way EventBridge does: in order
  // with a duplicate, the last one first, the last one alone.
  const deliveries: readonly Delivery[] = [
    atLeastOnce,
    { order: 'final-first', duplicateFinal: false },
    { order: 'final-only', duplicateFinal: false },
  ];
  const diedAt = Date.now();
  const perInstance = await Promise.all(
    befores.map(async ({ deadNode }, i) => {
      await sleep(i * 1_000);
      const since = Date.now();
      const [delivered] = await Promise.all([
        deliverDeathEvents({
          ec2Endpoint: controlPlaneEndpoints().awsEndpoint,
          instanceId: deadNode.instanceId,
          since,
          final: options.death,
          delivery: deliveries[i % deliveries.length] ?? atLeastOnce,
          invoke: (event) => nodeLossOnControlPlane(cluster.name).invoke(event),
        }),
        options.death === 'terminated'
          ? cluster.terminateInstance(deadNode)
          : cluster.stopInstance(deadNode),
      ]);
      return delivered;
    }),
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
  return { cluster, befores, perInstance, timelines, survivorsBefore, survivorsAfter };
}
