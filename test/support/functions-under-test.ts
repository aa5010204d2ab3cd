/**
 * Runs the node-loss and sweep functions in-process against the real parts, as the
 * remediator's own RBAC identity, and builds the events that trigger them from the samples in
 * events/.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { Config } from '#functions/shared/config.ts';
import { loadConfig } from '#functions/shared/config.ts';
import {
  parseFenceInput,
  parseLifecycleInput,
  parseNodeLossInput,
  parseSweepInput,
} from '#functions/shared/events/registry.ts';
import type { Request } from '#functions/shared/events/types.ts';
import {
  type HandleOptions,
  handleInput,
  type InvocationResult,
} from '#functions/shared/handle-input.ts';
import {
  controlPlaneEndpoints,
  controlPlaneKubeconfig,
  endpoints,
  kubeconfigPath,
} from './environment.ts';
import type { TestCluster } from './fixtures.ts';
import { type LogLine, wireHandler } from './wire.ts';

export type { LogLine } from './wire.ts';

/** A function wired to the real parts, with its log lines kept for assertions. */
export interface FunctionUnderTest {
  invoke(input: unknown, options?: HandleOptions): Promise<InvocationResult>;
  readonly logs: LogLine[];
}

/**
 * Environment settings for the remediator in tests: short timeouts, because moto detaches at
 * once and no external-attacher runs to remove finalizers. Test clusters are a node or two that
 * all die, and their Nodes share one apiserver with every other test's: the share-of-dead-Nodes
 * rule is off here and has tests of its own, which set it.
 */
export function testSettings(cluster: TestCluster): Record<string, string> {
  return {
    CLUSTER_NAME: cluster.name,
    KUBECONFIG: kubeconfigPath('remediator'),
    DETACH_TIMEOUT_SECONDS: '5',
    FORCE_DETACH_TIMEOUT_SECONDS: '5',
    ATTACHER_GRACE_SECONDS: '0.5',
    // The bare apiserver runs no controllers: nothing frees a fenced Node's volumes but the
    // remediator, so waiting for them only slows the tests (the control-plane tests wait).
    CONTROLLER_GRACE_SECONDS: '0.1',
    MAX_DEAD_NODE_PERCENT: '100',
  };
}

function functionUnderTest(
  parse: (input: unknown, config: Config) => Request,
  config: Config,
  ec2?: EC2Client,
  awsEndpoint = endpoints().awsEndpoint,
): FunctionUnderTest {
  const { deps, logs } = wireHandler(config, awsEndpoint, ec2);
  return { invoke: (input, options) => handleInput(input, parse, deps, options), logs };
}

/** The node-loss function, configured as in tests plus `settings` (environment variables). */
export function nodeLossFunction(cluster: TestCluster, settings: Record<string, string> = {}) {
  return functionUnderTest(
    parseNodeLossInput,
    loadConfig({ ...testSettings(cluster), ...settings }),
  );
}

/**
 * The node-loss function on the full control plane and its EC2 as it behaves, with every timing
 * at its default: what a user deploys. Its clusters share that apiserver with the tests of Kubernetes alone, whose
 * dead Nodes stay NotReady, so the share-of-dead-Nodes rule (tested on its own) is lifted.
 */
export function nodeLossOnControlPlane(
  clusterName: string,
  settings: Record<string, string> = {},
): FunctionUnderTest {
  return functionUnderTest(
    parseNodeLossInput,
    loadConfig({
      CLUSTER_NAME: clusterName,
      KUBECONFIG: controlPlaneKubeconfig('remediator'),
      MAX_DEAD_NODE_PERCENT: '100',
      ...settings,
    }),
    undefined,
    controlPlaneEndpoints().awsEndpoint,
  );
}

/** The sweep function on the full control plane, kept to one StatefulCluster's Nodes. */
export function sweepOnControlPlane(cluster: {
  readonly name: string;
  readonly labelSelector: string;
}): FunctionUnderTest {
  return functionUnderTest(
    parseSweepInput,
    loadConfig({
      CLUSTER_NAME: cluster.name,
      KUBECONFIG: controlPlaneKubeconfig('remediator'),
      NODE_SELECTOR: cluster.labelSelector,
      MAX_DEAD_NODE_PERCENT: '100',
    }),
    undefined,
    controlPlaneEndpoints().awsEndpoint,
  );
}

/**
 * The fence function on the full control plane, kept to one StatefulCluster's Nodes (the
 * share of NotReady Nodes is that cluster's), with every other setting at its default unless
 * `settings` says otherwise.
 */
export function fenceOnControlPlane(
  cluster: { readonly name: string; readonly labelSelector: string },
  settings: Record<string, string> = {},
): FunctionUnderTest {
  return functionUnderTest(
    parseFenceInput,
    loadConfig({
      CLUSTER_NAME: cluster.name,
      KUBECONFIG: controlPlaneKubeconfig('remediator'),
      NODE_SELECTOR: cluster.labelSelector,
      FENCE_HUNG_NODES: 'true',
      ...settings,
    }),
    undefined,
    controlPlaneEndpoints().awsEndpoint,
  );
}

/** The lifecycle function, configured as in tests plus `settings` (environment variables). */
export function lifecycleFunction(cluster: TestCluster, settings: Record<string, string> = {}) {
  return functionUnderTest(
    parseLifecycleInput,
    loadConfig({ ...testSettings(cluster), ...settings }),
  );
}

/** The sweep function, configured as in tests plus `settings` (environment variables). */
export function sweepFunction(
  cluster: TestCluster,
  settings: Record<string, string> = {},
  ec2?: EC2Client,
): FunctionUnderTest {
  // Every test cluster shares one kube-apiserver: a sweep keeps to its own cluster's Nodes.
  const config = loadConfig({
    ...testSettings(cluster),
    NODE_SELECTOR: cluster.labelSelector,
    ...settings,
  });
  return functionUnderTest(parseSweepInput, config, ec2);
}

/**
 * A function as in tests, but reaching AWS at `awsEndpoint` and the cluster through `kubeconfig`
 * (fault proxies in front of moto and the kube-apiserver).
 */
export function functionThrough(
  name: 'node-loss' | 'sweep' | 'lifecycle',
  cluster: TestCluster,
  through: { readonly awsEndpoint: string; readonly kubeconfig: string },
  settings: Record<string, string> = {},
): FunctionUnderTest {
  const parse = {
    'node-loss': parseNodeLossInput,
    sweep: parseSweepInput,
    lifecycle: parseLifecycleInput,
  }[name];
  const config = loadConfig({
    ...testSettings(cluster),
    ...(name === 'sweep' ? { NODE_SELECTOR: cluster.labelSelector } : {}),
    KUBECONFIG: through.kubeconfig,
    ...settings,
  });
  return functionUnderTest(parse, config, undefined, through.awsEndpoint);
}

export { autoScalingTerminateEvent, ec2StateChangeEvent, lifecycleActionEvent } from './samples.ts';
