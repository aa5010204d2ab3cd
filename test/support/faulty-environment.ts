/**
 * The reliability tests' environment: fault proxies in front of the AWS endpoint (moto behind the
 * lifecycle stand-in) and of the bare kube-apiserver, a cluster with a live bystander node, and
 * `attempt`, which runs a function once under a set of faults and says how that attempt ended.
 */
import { expect, inject } from 'vitest';
import { endpoints, kubeconfigPath } from './environment.ts';
import {
  type FaultProxy,
  type FaultRule,
  kubeconfigThrough,
  startFaultProxy,
} from './fault-proxy.ts';
import { TestCluster, type TestNode } from './fixtures.ts';
import type { FunctionUnderTest } from './functions-under-test.ts';

export type { FaultRule } from './fault-proxy.ts';

/** How one attempt ended, and how many requests the proxies failed in it. */
export type Outcome = (
  | { readonly ended: 'done'; readonly result: Awaited<ReturnType<FunctionUnderTest['invoke']>> }
  | { readonly ended: 'threw'; readonly message: string }
) & { readonly faultsInjected: number };

export interface FaultyEnvironment {
  readonly cluster: TestCluster;
  /** Where the functions under test reach AWS and the cluster. */
  readonly through: { readonly awsEndpoint: string; readonly kubeconfig: string };
  /** Runs the function once with these faults (AWS rules by action, Kubernetes rules else). */
  attempt(
    remediator: FunctionUnderTest,
    event: unknown,
    rules: readonly FaultRule[],
  ): Promise<Outcome>;
  /** A node with two CSI volumes whose instance then stops (volumes still attached) or terminates. */
  deadNodeWithVolumes(death?: 'stopped' | 'terminated'): Promise<{
    node: TestNode;
    volumes: Array<{ volumeId: string; volumeAttachmentName: string }>;
  }>;
  /** Every volume free in EC2, and no VolumeAttachment of them left. */
  expectFreed(
    volumes: ReadonlyArray<{ volumeId: string; volumeAttachmentName: string }>,
  ): Promise<void>;
  /** The live node's volume, attachment and Node as they were. */
  expectBystanderUntouched(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startFaultyEnvironment(name: string): Promise<FaultyEnvironment> {
  const cluster = TestCluster.create(name, endpoints());
  const aws: FaultProxy = await startFaultProxy(endpoints().awsEndpoint);
  const kube: FaultProxy = await startFaultProxy(
    inject('kube').server,
    kubeconfigPath('remediator'),
  );
  const bystander: TestNode = await cluster.addNode();
  const bystanderVolume = await cluster.addVolume(bystander, { provisioner: 'csi' });

  return {
    cluster,
    through: { awsEndpoint: aws.endpoint, kubeconfig: kubeconfigThrough(kube) },

    async attempt(remediator, event, rules) {
      aws.setRules(rules.filter((r) => r.awsAction !== undefined));
      kube.setRules(rules.filter((r) => r.awsAction === undefined));
      const faultsInjected = () => aws.hits().length + kube.hits().length;
      try {
        const result = await remediator.invoke(event);
        return { ended: 'done', result, faultsInjected: faultsInjected() };
      } catch (error) {
        return {
          ended: 'threw',
          message: (error as Error).message,
          faultsInjected: faultsInjected(),
        };
      } finally {
        aws.setRules([]);
        kube.setRules([]);
      }
    },

    async deadNodeWithVolumes(death = 'stopped') {
      const node = await cluster.addNode();
      const volumes = [
        await cluster.addVolume(node, { provisioner: 'csi' }),
        await cluster.addVolume(node, { provisioner: 'csi' }),
      ];
      if (death === 'stopped') await cluster.stopInstance(node);
      else await cluster.terminateInstance(node);
      return { node, volumes };
    },

    async expectFreed(volumes) {
      for (const volume of volumes) {
        expect(await cluster.volume(volume.volumeId)).toEqual({
          state: 'available',
          attachedTo: [],
        });
      }
      const names = await cluster.volumeAttachmentNames();
      for (const volume of volumes) expect(names).not.toContain(volume.volumeAttachmentName);
    },

    async expectBystanderUntouched() {
      expect(await cluster.volume(bystanderVolume.volumeId)).toEqual({
        state: 'in-use',
        attachedTo: [bystander.instanceId],
      });
      expect(await cluster.volumeAttachmentNames()).toContain(bystanderVolume.volumeAttachmentName);
      // (The apiserver's admission gives every new Node a not-ready taint; ours is out-of-service.)
      expect((await cluster.taintsOf(bystander)).map((t) => t.key)).not.toContain(
        'node.kubernetes.io/out-of-service',
      );
    },

    async dispose() {
      await Promise.all([aws.stop(), kube.stop()]);
      await cluster.dispose();
    },
  };
}

/** EC2 or Auto Scaling saying "too many requests" to the first `times` calls of an action. */
export function throttled(times: number, awsAction: string): FaultRule {
  return { awsAction, fault: { kind: 'answer', status: 400, code: 'RequestLimitExceeded' }, times };
}
