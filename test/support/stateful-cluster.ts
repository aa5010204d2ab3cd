/**
 * A cluster on the full control plane (control-plane.ts): EC2 instances whose Nodes have
 * simulated kubelets, and a StatefulSet whose pods each hold a ReadWriteOnce EBS volume,
 * attached through the attach/detach controller and the real external-attacher.
 *
 * Each StatefulCluster has a unique name: its own namespace, and a label on its Nodes and
 * PersistentVolumes, so clusters share the servers without seeing each other's objects. Its pods
 * run only on its own Nodes, one per Node (anti-affinity), with one Node to spare.
 * Vitest-free: the demo and the benchmarks use it too.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateVolumeCommand,
  EC2Client,
  type Instance,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  StorageV1Api,
  setHeaderOptions,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { eventReportingController } from '#functions/shared/contract/kubernetes-events.ts';
import {
  ebsCsiAttacher,
  eksAutoModeEbsAttacher,
} from '#functions/shared/contract/kubernetes-identity.ts';
import { providerIdFor } from '#functions/shared/identity/aws-ids.ts';
import { cloudNodeLifecycleLabel } from './aws-cloud-controller.ts';
import { reuseAddressPath } from './ec2-as-it-behaves/index.ts';
import { stopInstance, terminateInstance, volumeState } from './ec2-instances.ts';
import { awsClientConfigFor, testRegion } from './endpoints.ts';
import { ignoreNotFound, type TestNode, testClusterLabel } from './fixtures.ts';

/** Nodes the simulated kubelets play (test/support/cloud-agents). */
export const simulatedKubeletLabel = 'ebs-volume-remediator.test/simulated-kubelet';
/** A Node whose kubelet hangs while its instance runs (test/support/cloud-agents). */
const kubeletHungAnnotation = 'ebs-volume-remediator.test/kubelet-hung';
/** The instance whose kubelet plays a Node, when another than its providerID's adopted it. */
const kubeletInstanceAnnotation = 'ebs-volume-remediator.test/kubelet-instance';

const statefulSetName = 'db';
const nodeAgentName = 'node-agent';
const storageClassName = 'ebs-gp3';

export interface StatefulClusterOptions {
  /** Replicas of the StatefulSet (default 2). */
  readonly replicas?: number;
  /** Nodes beyond one per replica, for replacements (default 1). */
  readonly spareNodes?: number;
  /** Whether a cloud node lifecycle deletes the Nodes of terminated instances (EKS: yes). */
  readonly cloudNodeLifecycle: boolean;
  /** The CSI driver of the volumes (default ebs.csi.aws.com; EKS Auto Mode's is another). */
  readonly driver?: typeof ebsCsiAttacher | typeof eksAutoModeEbsAttacher;
}

export interface Replica {
  readonly ordinal: number;
  readonly podName: string;
  readonly volumeId: string;
  readonly persistentVolumeName: string;
}

/** Where the real parts listen: moto (EC2) and the control plane's admin kubeconfig. */
export interface StatefulClusterEndpoints {
  readonly awsEndpoint: string;
  readonly adminKubeconfig: string;
}

export class StatefulCluster {
  readonly name: string;
  readonly namespace: string;
  readonly ec2: EC2Client;
  private readonly awsEndpoint: string;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly storage: StorageV1Api;
  readonly policy: PolicyV1Api;
  private readonly coordination: CoordinationV1Api;
  readonly nodes: TestNode[] = [];
  readonly replicas: Replica[] = [];
  private readonly options: Required<StatefulClusterOptions>;

  private constructor(
    name: string,
    endpoints: StatefulClusterEndpoints,
    options: StatefulClusterOptions,
  ) {
    this.name = name;
    this.namespace = name;
    this.awsEndpoint = endpoints.awsEndpoint;
    this.ec2 = new EC2Client(awsClientConfigFor(endpoints.awsEndpoint));
    const admin = new KubeConfig();
    admin.loadFromFile(endpoints.adminKubeconfig);
    this.core = admin.makeApiClient(CoreV1Api);
    this.apps = admin.makeApiClient(AppsV1Api);
    this.storage = admin.makeApiClient(StorageV1Api);
    this.policy = admin.makeApiClient(PolicyV1Api);
    this.coordination = admin.makeApiClient(CoordinationV1Api);
    this.options = { replicas: 2, spareNodes: 1, driver: ebsCsiAttacher, ...options };
  }

  /**
   * A cluster with `replicas + spareNodes` Nodes and a StatefulSet of `replicas` pods, each Running
   * with its own EBS volume attached.
   */
  static async start(
    prefix: string,
    endpoints: StatefulClusterEndpoints,
    options: StatefulClusterOptions,
  ): Promise<StatefulCluster> {
    const cluster = new StatefulCluster(
      `${prefix}-${randomBytes(4).toString('hex')}`,
      endpoints,
      options,
    );
    await cluster.core.createNamespace({ body: { metadata: { name: cluster.namespace } } });
    await Promise.all(
      Array.from({ length: cluster.options.replicas + cluster.options.spareNodes }, () =>
        cluster.addNode(),
      ),
    );
    await Promise.all([cluster.createStatefulSet(), cluster.createNodeAgents()]);
    await cluster.waitUntilAllRunning(120_000);
    await cluster.createStaticPod();
    return cluster;
  }

  /**
   * What every real cluster runs on every node: a DaemonSet whose pods tolerate every taint
   * (as aws-node, kube-proxy and ebs-csi-node do), so they stay bound to a dead Node; and a
   * PodDisruptionBudget for the StatefulSet.
   */
  private async createNodeAgents(): Promise<void> {
    await this.apps.createNamespacedDaemonSet({
      namespace: this.namespace,
      body: {
        metadata: { name: nodeAgentName },
        spec: {
          selector: { matchLabels: { app: nodeAgentName } },
          template: {
            metadata: { labels: { app: nodeAgentName } },
            spec: {
              nodeSelector: { [testClusterLabel]: this.name },
              tolerations: [{ operator: 'Exists' }],
              containers: [{ name: 'agent', image: 'public.ecr.aws/eks/aws-node:v1' }],
            },
          },
        },
      },
    });
    await this.policy.createNamespacedPodDisruptionBudget({
      namespace: this.namespace,
      body: {
        metadata: { name: statefulSetName },
        spec: { maxUnavailable: 1, selector: { matchLabels: { app: statefulSetName } } },
      },
    });
  }

  /**
   * A static pod's mirror on the node of the first replica (the one the tests let die): bound
   * to it, owned by its Node, tolerating every NoExecute taint, as the kubelet makes them.
   */
  private async createStaticPod(): Promise<void> {
    const [first] = this.replicas;
    if (!first) return;
    const node = await this.nodeOf(first);
    const nodeObject = await this.core.readNode({ name: node.nodeName });
    await this.core.createNamespacedPod({
      namespace: this.namespace,
      body: {
        metadata: {
          name: `static-proxy-${node.nodeName}`,
          annotations: {
            'kubernetes.io/config.mirror': 'static',
            'kubernetes.io/config.source': 'file',
          },
          ownerReferences: [
            {
              apiVersion: 'v1',
              kind: 'Node',
              name: node.nodeName,
              uid: nodeObject.metadata?.uid ?? '',
              controller: true,
            },
          ],
        },
        spec: {
          nodeName: node.nodeName,
          tolerations: [{ operator: 'Exists', effect: 'NoExecute' }],
          containers: [{ name: 'proxy', image: 'registry.k8s.io/kube-proxy:v1.35.0' }],
        },
      },
    });
  }

  /** The node agents' pods Running, one on every node. */
  private async nodeAgentsRunning(): Promise<boolean> {
    const pods = await this.core.listNamespacedPod({
      namespace: this.namespace,
      labelSelector: `app=${nodeAgentName}`,
    });
    const running = new Set(
      pods.items.filter((p) => p.status?.phase === 'Running').map((p) => p.spec?.nodeName),
    );
    return this.nodes.every((n) => running.has(n.nodeName));
  }

  get clusterTagKey(): string {
    return `kubernetes.io/cluster/${this.name}`;
  }

  get labelSelector(): string {
    return `${testClusterLabel}=${this.name}`;
  }

  /** An instance of this cluster (tagged for it), as a node group launches one. */
  private async launchInstance(zone: string): Promise<Instance & { InstanceId: string }> {
    const launched = await this.ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-0123456789abcdef0',
        InstanceType: 'm7g.large',
        MinCount: 1,
        MaxCount: 1,
        Placement: { AvailabilityZone: zone },
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: 'Name', Value: `${this.name}-node` },
              { Key: this.clusterTagKey, Value: 'owned' },
            ],
          },
        ],
      }),
    );
    const instance = launched.Instances?.[0];
    if (!instance?.InstanceId) throw new Error('RunInstances returned no instance id');
    return { ...instance, InstanceId: instance.InstanceId };
  }

  /**
   * A new instance gets the terminated `dead` one's private IP, and so its DNS name, and its
   * kubelet adopts the Node left behind (no cloud node lifecycle deleted it): the Node still
   * names the dead instance in its providerID, and is renewed and Ready again. Returns the new
   * instance's id.
   */
  async adoptNode(dead: TestNode): Promise<string> {
    const reuse = await fetch(`${this.awsEndpoint}${reuseAddressPath}`, {
      method: 'POST',
      body: JSON.stringify({ from: dead.instanceId }),
    });
    if (!reuse.ok)
      throw new Error(`the EC2 layer would not reuse the address: ${await reuse.text()}`);
    const newcomer = await this.launchInstance(dead.zone);
    if (newcomer.PrivateDnsName !== dead.nodeName) {
      throw new Error(
        `${newcomer.InstanceId} got ${newcomer.PrivateDnsName}, not ${dead.nodeName}`,
      );
    }
    await this.core.patchNode(
      {
        name: dead.nodeName,
        body: { metadata: { annotations: { [kubeletInstanceAnnotation]: newcomer.InstanceId } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    return newcomer.InstanceId;
  }

  private async addNode(zone = `${testRegion}a`): Promise<TestNode> {
    const instance = await this.launchInstance(zone);
    if (!instance.PrivateDnsName || !instance.PrivateIpAddress) {
      throw new Error('RunInstances returned no private DNS name or address');
    }
    const node: TestNode = {
      instanceId: instance.InstanceId,
      nodeName: instance.PrivateDnsName,
      zone,
      providerID: providerIdFor(zone, instance.InstanceId),
    };
    const body: V1Node = {
      metadata: {
        name: node.nodeName,
        labels: {
          [testClusterLabel]: this.name,
          [simulatedKubeletLabel]: 'true',
          [cloudNodeLifecycleLabel]: String(this.options.cloudNodeLifecycle),
          'kubernetes.io/hostname': node.nodeName,
          'kubernetes.io/os': 'linux',
          'topology.kubernetes.io/region': testRegion,
          'topology.kubernetes.io/zone': zone,
          'topology.ebs.csi.aws.com/zone': zone,
        },
        // What a kubelet registers: the attach/detach controller attaches for this Node.
        annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
      },
      spec: { providerID: node.providerID },
      status: {
        addresses: [
          { type: 'InternalIP', address: instance.PrivateIpAddress },
          { type: 'InternalDNS', address: instance.PrivateDnsName },
          { type: 'Hostname', address: instance.PrivateDnsName },
        ],
      },
    };
    await this.core.createNode({ body });
    this.nodes.push(node);
    return node;
  }

  private async createStatefulSet(): Promise<void> {
    const zone = this.nodes[0]?.zone ?? `${testRegion}a`;
    for (let ordinal = 0; ordinal < this.options.replicas; ordinal++) {
      const claimName = `data-${statefulSetName}-${ordinal}`;
      const persistentVolumeName = `pv-${this.name}-${ordinal}`;
      const created = await this.ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: zone,
          Size: 10,
          VolumeType: 'gp3',
          TagSpecifications: [
            {
              ResourceType: 'volume',
              // What the EBS CSI driver tags without --k8s-tag-cluster-id.
              Tags: [
                { Key: 'CSIVolumeName', Value: persistentVolumeName },
                { Key: 'ebs.csi.aws.com/cluster', Value: 'true' },
                { Key: 'kubernetes.io/created-for/pvc/name', Value: claimName },
                { Key: 'kubernetes.io/created-for/pvc/namespace', Value: this.namespace },
              ],
            },
          ],
        }),
      );
      if (!created.VolumeId) throw new Error('CreateVolume returned no volume id');
      // Pre-provisioned and pre-bound: the PV controller binds them at once.
      await this.core.createPersistentVolume({
        body: {
          metadata: { name: persistentVolumeName, labels: { [testClusterLabel]: this.name } },
          spec: {
            capacity: { storage: '10Gi' },
            accessModes: ['ReadWriteOnce'],
            persistentVolumeReclaimPolicy: 'Retain',
            storageClassName,
            csi: { driver: this.options.driver, volumeHandle: created.VolumeId, fsType: 'ext4' },
            claimRef: { kind: 'PersistentVolumeClaim', namespace: this.namespace, name: claimName },
            nodeAffinity: {
              required: {
                nodeSelectorTerms: [
                  {
                    matchExpressions: [
                      { key: 'topology.kubernetes.io/zone', operator: 'In', values: [zone] },
                    ],
                  },
                ],
              },
            },
          },
        },
      });
      await this.core.createNamespacedPersistentVolumeClaim({
        namespace: this.namespace,
        body: {
          metadata: { name: claimName, labels: { app: statefulSetName } },
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName,
            volumeName: persistentVolumeName,
            resources: { requests: { storage: '10Gi' } },
          },
        },
      });
      this.replicas.push({
        ordinal,
        podName: `${statefulSetName}-${ordinal}`,
        volumeId: created.VolumeId,
        persistentVolumeName,
      });
    }
    await this.apps.createNamespacedStatefulSet({
      namespace: this.namespace,
      body: {
        metadata: { name: statefulSetName },
        spec: {
          replicas: this.options.replicas,
          serviceName: statefulSetName,
          selector: { matchLabels: { app: statefulSetName } },
          template: {
            metadata: { labels: { app: statefulSetName } },
            spec: {
              nodeSelector: { [testClusterLabel]: this.name },
              affinity: {
                podAntiAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: [
                    {
                      topologyKey: 'kubernetes.io/hostname',
                      labelSelector: { matchLabels: { app: statefulSetName } },
                    },
                  ],
                },
              },
              containers: [
                {
                  name: 'db',
                  image: 'public.ecr.aws/docker/library/postgres:17',
                  volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql/data' }],
                },
              ],
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: 'data' },
              spec: {
                accessModes: ['ReadWriteOnce'],
                storageClassName,
                resources: { requests: { storage: '10Gi' } },
              },
            },
          ],
        },
      },
    });
  }

  /** The pod of a replica now, if one exists. */
  async pod(replica: Replica): Promise<V1Pod | undefined> {
    return ignoreNotFound(
      this.core.readNamespacedPod({ name: replica.podName, namespace: this.namespace }),
    );
  }

  /** The Node object now, if it exists. */
  async node(nodeName: string): Promise<V1Node | undefined> {
    return ignoreNotFound(this.core.readNode({ name: nodeName }));
  }

  /** When the Node's kubelet last renewed its Lease (ms since the epoch), if it has one. */
  async leaseRenewedAt(nodeName: string): Promise<number | undefined> {
    const lease = await ignoreNotFound(
      this.coordination.readNamespacedLease({ name: nodeName, namespace: 'kube-node-lease' }),
    );
    return lease?.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : undefined;
  }

  /** The cluster's node that runs the replica's pod now. */
  async nodeOf(replica: Replica): Promise<TestNode> {
    const nodeName = (await this.pod(replica))?.spec?.nodeName;
    const node = this.nodes.find((n) => n.nodeName === nodeName);
    if (!node) throw new Error(`${replica.podName} runs on no node of ${this.name}`);
    return node;
  }

  /** Whether the replica's pod is Running on a node that reports its volume attached. */
  async isRunningWithVolume(replica: Replica): Promise<boolean> {
    const pod = await this.pod(replica);
    if (
      pod?.status?.phase !== 'Running' ||
      !pod.spec?.nodeName ||
      pod.metadata?.deletionTimestamp
    ) {
      return false;
    }
    const node = await this.node(pod.spec.nodeName);
    return hasVolumeAttached(node, replica.volumeId);
  }

  async waitUntilAllRunning(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = await Promise.all([
        ...this.replicas.map((r) => this.isRunningWithVolume(r)),
        this.nodeAgentsRunning(),
      ]);
      if (running.every(Boolean)) return;
      if (Date.now() > deadline) {
        throw new Error(
          `the StatefulSet of ${this.name} (and its node agents) was not Running with its volumes within ` +
            `${timeoutMs / 1000}s (see .cache/logs/ for the control plane's logs)`,
        );
      }
      await sleep(500);
    }
  }

  /** Scales the StatefulSet (its pods end on live nodes; the kubelet finishes them). */
  async scale(replicas: number): Promise<void> {
    await this.apps.patchNamespacedStatefulSetScale({
      name: statefulSetName,
      namespace: this.namespace,
      body: [{ op: 'replace', path: '/spec/replicas', value: replicas }],
    });
  }

  /**
   * The node's kubelet hangs (a kernel hang, a dead kubelet, a partition): it stops renewing its
   * Lease and reporting, and finishes no pod, while EC2 keeps the instance running.
   */
  async hangKubelet(node: TestNode): Promise<void> {
    await this.core.patchNode(
      {
        name: node.nodeName,
        body: { metadata: { annotations: { [kubeletHungAnnotation]: 'true' } } },
        // A JSON merge patch, as kubectl annotate sends.
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  /** Terminates the node's instance; its kubelet stops with it. */
  terminateInstance(node: TestNode): Promise<void> {
    return terminateInstance(this.ec2, node.instanceId);
  }

  /** Stops the node's instance (its volumes stay attached in EC2); its kubelet stops with it. */
  stopInstance(node: TestNode): Promise<void> {
    return stopInstance(this.ec2, node.instanceId);
  }

  /** The volume's state and the instances EC2 says it is attached to. */
  volumeState(volumeId: string): Promise<{ state?: string; attachedTo: string[] }> {
    return volumeState(this.ec2, volumeId);
  }

  /** Events about the namespace's object `name` (a pod), newest last. */
  async eventsAbout(
    name: string,
  ): Promise<Array<{ reason: string; message: string; uid: string }>> {
    const list = await this.core.listNamespacedEvent({
      namespace: this.namespace,
      fieldSelector: `involvedObject.name=${name}`,
    });
    return list.items.map((e) => ({
      reason: e.reason ?? '',
      message: e.message ?? '',
      uid: e.involvedObject.uid ?? '',
    }));
  }

  /**
   * The remediator's Events that `kubectl describe` shows on an object: it lists core/v1 Events
   * in every namespace by the object's kind, name, namespace and uid (the uid alone, where the
   * name is not given: it is as unique).
   */
  async describedEvents(object: {
    readonly kind: string;
    readonly name?: string;
    readonly namespace?: string;
    readonly uid: string;
  }): Promise<Array<{ reason: string; type: string; message: string; count: number }>> {
    const list = await this.core.listEventForAllNamespaces({
      fieldSelector: [
        `involvedObject.kind=${object.kind}`,
        ...(object.name ? [`involvedObject.name=${object.name}`] : []),
        `involvedObject.namespace=${object.namespace ?? ''}`,
        `involvedObject.uid=${object.uid}`,
      ].join(','),
    });
    return list.items
      .filter((e) => e.reportingComponent === eventReportingController)
      .map((e) => ({
        reason: e.reason ?? '',
        type: e.type ?? '',
        message: e.message ?? '',
        count: e.series?.count ?? 1,
      }));
  }

  /** UIDs of the VolumeAttachments that name the node now. */
  async volumeAttachmentsOf(nodeName: string): Promise<Map<string, string>> {
    const list = await this.storage.listVolumeAttachment();
    const found = new Map<string, string>();
    for (const attachment of list.items) {
      if (attachment.spec.nodeName === nodeName && attachment.metadata?.uid) {
        found.set(attachment.metadata.uid, attachment.spec.source.persistentVolumeName ?? '');
      }
    }
    return found;
  }

  /** Removes what the cluster made, without waiting for controllers: a test run is ending. */
  async dispose(): Promise<void> {
    await ignoreNotFound(
      this.apps.deleteNamespacedStatefulSet({ name: statefulSetName, namespace: this.namespace }),
    );
    await ignoreNotFound(
      this.apps.deleteNamespacedDaemonSet({ name: nodeAgentName, namespace: this.namespace }),
    );
    const pods = await this.core.listNamespacedPod({ namespace: this.namespace });
    for (const pod of pods.items) {
      await ignoreNotFound(
        this.core.deleteNamespacedPod({
          name: pod.metadata?.name ?? '',
          namespace: this.namespace,
          gracePeriodSeconds: 0,
        }),
      );
    }
    await ignoreNotFound(this.core.deleteNamespace({ name: this.namespace }));
    await this.core.deleteCollectionNode({ labelSelector: this.labelSelector });
    await this.core.deleteCollectionPersistentVolume({ labelSelector: this.labelSelector });
    const ids = this.nodes.map((n) => n.instanceId);
    if (ids.length > 0) {
      await this.ec2
        .send(new TerminateInstancesCommand({ InstanceIds: ids }))
        .catch(() => undefined);
    }
  }
}

/** Whether the Node reports the EBS volume attached (node.status.volumesAttached). */
export function hasVolumeAttached(node: V1Node | undefined, volumeId: string): boolean {
  const names = [ebsCsiAttacher, eksAutoModeEbsAttacher].map(
    (driver) => `kubernetes.io/csi/${driver}^${volumeId}`,
  );
  return (node?.status?.volumesAttached ?? []).some((v) => names.includes(v.name));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
