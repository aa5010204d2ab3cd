/**
 * What an integration test needs to reach the real parts started by global-setup.ts: AWS
 * clients pointed at moto (through the lifecycle stand-in) and Kubernetes clients for the
 * admin and the remediator identity.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { awsClientConfigFor, awsEnvironmentFor, type Endpoints } from './endpoints.ts';
import { type RecordedLifecycleAction, recordingPath } from './lifecycle-stand-in.ts';
import { switchCsiController } from './outage-switch.ts';
import type { StatefulClusterEndpoints } from './stateful-cluster.ts';

export { testRegion } from './endpoints.ts';

/** Where the real parts of this test run listen. */
export function endpoints(): Endpoints {
  return { awsEndpoint: inject('awsEndpoint'), kubeconfigs: inject('kube').kubeconfigs };
}

/** Client settings for any AWS SDK v3 client: the emulator's endpoint and fake credentials. */
export function awsClientConfig() {
  return awsClientConfigFor(inject('awsEndpoint'));
}

/**
 * Environment variables that point the remediator (or any AWS SDK) at the emulator, the same
 * way a user points it at AWS.
 */
export function awsEnvironment(): Record<string, string> {
  return awsEnvironmentFor(inject('awsEndpoint'));
}

export function ec2Client(): EC2Client {
  return new EC2Client(awsClientConfig());
}

export function autoScalingClient(): AutoScalingClient {
  return new AutoScalingClient(awsClientConfig());
}

export type KubeIdentity = 'admin' | 'remediator';

/** A KubeConfig for the real kube-apiserver, as `admin` or as the remediator's own identity. */
export function kubeConfig(identity: KubeIdentity): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath(identity));
  return config;
}

export function kubeconfigPath(identity: KubeIdentity): string {
  return inject('kube').kubeconfigs[identity];
}

/** Every CompleteLifecycleAction and RecordLifecycleActionHeartbeat call the stand-in answered. */
export async function recordedLifecycleActions(): Promise<RecordedLifecycleAction[]> {
  const response = await fetch(`${inject('awsEndpoint')}${recordingPath}`);
  if (!response.ok) throw new Error(`lifecycle stand-in answered HTTP ${response.status}`);
  return (await response.json()) as RecordedLifecycleAction[];
}

/**
 * The full control plane (controllers, scheduler, attacher, EBS CSI driver, kubelets) and its
 * AWS: EC2 as it behaves, in front of moto.
 */
export function controlPlaneEndpoints(): StatefulClusterEndpoints {
  return {
    awsEndpoint: inject('controlPlane').awsEndpoint,
    adminKubeconfig: inject('controlPlane').kubeconfigs.admin,
  };
}

/** The full control plane's kubeconfig for the remediator's own identity. */
export function controlPlaneKubeconfig(identity: KubeIdentity): string {
  return inject('controlPlane').kubeconfigs[identity];
}

/** The log of every attach and detach made in the control plane's EC2. */
export function controlPlaneEc2Log(): string {
  return inject('controlPlane').ec2Log;
}

/** Takes the control plane's CSI controller down or brings it back: `outage` project tests only. */
export function switchCsiControllerTo(to: 'stop' | 'start'): Promise<void> {
  return switchCsiController(inject('outageSwitch'), to);
}
