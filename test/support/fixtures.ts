/**
 * Builds a realistic cluster in both real systems at once: EC2 instances tagged for the cluster
 * with their Node objects, and EBS volumes attached to them with the PersistentVolumes and
 * VolumeAttachments the EBS CSI driver and its external-attacher leave behind.
 *
 * Each TestCluster has a unique name and labels every object it creates with it, so tests share
 * one kube-apiserver and one moto without seeing each other's objects.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  StartInstancesCommand,
  type Tag,
  TerminateInstancesCommand,
  waitUntilInstanceRunning,
} from '@aws-sdk/client-ec2';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  StorageV1Api,
  type V1Lease,
  V1MicroTime,
  type V1PersistentVolume,
  type V1Toleration,
  type V1VolumeAttachment,
} from '@kubernetes/client-node';
import {
  csiNodeIdAnnotation,
  ebsCsiAttacher,
  eksAutoModeEbsAttacher,
} from '#functions/shared/contract/kubernetes-identity.ts';
import { providerIdFor } from '#functions/shared/identity/aws-ids.ts';
import {
  attacherFinalizerOf,
  volumeAttachmentName,
} from '#functions/shared/identity/volume-attachment-name.ts';
import { stopInstance, terminateInstance, volumeState } from './ec2-instances.ts';
import { awsClientConfigFor, type Endpoints, testRegion } from './endpoints.ts';

/** The label that ties every Kubernetes object of a test cluster to that cluster. */
export const testClusterLabel = 'test.ebs-volume-remediator.io/cluster';

/** Any image id does for moto, which does not validate it by default. */
const testImageId = 'ami-0123456789abcdef0';

export interface TestNode {
  readonly instanceId: string;
  /** A Node whose instance EC2 does not know (long terminated and forgotten). */
  readonly phantom?: boolean;
  /** The Node's name: the instance's private DNS name, as on EKS. */
  readonly nodeName: string;
  readonly zone: string;
  readonly providerID: string;
}

/**
 * `csi`: provisioned by the EBS CSI driver; `eks-auto-mode`: by EKS Auto Mode's EBS driver
 * (`ebs.csi.eks.amazonaws.com`); `in-tree`: by `kubernetes.io/aws-ebs`, migrated to CSI.
 */
export type Provisioner = 'csi' | 'eks-auto-mode' | 'in-tree';

/** The CSI driver that attaches a provisioner's volumes (migrated in-tree ones: the EBS CSI driver). */
function attacherOf(provisioner: Provisioner): string {
  return provisioner === 'eks-auto-mode' ? eksAutoModeEbsAttacher : ebsCsiAttacher;
}

export interface TestVolume {
  readonly volumeId: string;
  readonly persistentVolumeName: string;
  readonly volumeAttachmentName: string;
  readonly device: string;
  readonly provisioner: Provisioner;
}

export interface AddNodeOptions {
  readonly zone?: string;
  /** Create the Node object too (default true); false models a Node already deleted. */
  readonly withNodeObject?: boolean;
  /** Tag the instance for this cluster (default true); false models a stranger's instance. */
  readonly taggedForCluster?: boolean;
  /** The Node's name, when it must differ from the private DNS name EC2 gave the instance. */
  readonly nodeName?: string;
}

export interface AddVolumeOptions {
  readonly provisioner?: Provisioner;
  /** The PersistentVolumeClaim (namespace default) the volume is bound to, as a StatefulSet's. */
  readonly claimName?: string;
  /** Create the VolumeAttachment (default true). */
  readonly withVolumeAttachment?: boolean;
}

export class TestCluster {
  readonly name: string;
  readonly ec2: EC2Client;
  readonly core: CoreV1Api;
  readonly storage: StorageV1Api;
  readonly coordination: CoordinationV1Api;
  private readonly devicesUsed = new Map<string, number>();

  private constructor(name: string, ec2: EC2Client, kubeconfigs: Endpoints['kubeconfigs']) {
    this.name = name;
    this.ec2 = ec2;
    const admin = new KubeConfig();
    admin.loadFromFile(kubeconfigs.admin);
    this.core = admin.makeApiClient(CoreV1Api);
    this.storage = admin.makeApiClient(StorageV1Api);
    this.coordination = admin.makeApiClient(CoordinationV1Api);
  }

  /** A new, empty cluster with a unique name, in the real parts at `endpoints`. */
  static create(prefix: string, endpoints: Endpoints): TestCluster {
    return new TestCluster(
      `${prefix}-${randomBytes(4).toString('hex')}`,
      new EC2Client(awsClientConfigFor(endpoints.awsEndpoint)),
      endpoints.kubeconfigs,
    );
  }

  /** The tag that marks instances and in-tree volumes as this cluster's. */
  get clusterTagKey(): string {
    return `kubernetes.io/cluster/${this.name}`;
  }

  get labelSelector(): string {
    return `${testClusterLabel}=${this.name}`;
  }

  /** Launches an instance tagged for the cluster and registers its Node. */
  async addNode(options: AddNodeOptions = {}): Promise<TestNode> {
    const zone = options.zone ?? `${testRegion}a`;
    const tags: Tag[] = [{ Key: 'Name', Value: `${this.name}-node` }];
    if (options.taggedForCluster ?? true) tags.push({ Key: this.clusterTagKey, Value: 'owned' });
    const launched = await this.ec2.send(
      new RunInstancesCommand({
        ImageId: testImageId,
        InstanceType: 'm7g.large',
        MinCount: 1,
        MaxCount: 1,
        Placement: { AvailabilityZone: zone },
        TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
      }),
    );
    const instance = launched.Instances?.[0];
    if (!instance?.InstanceId || !instance.PrivateDnsName) {
      throw new Error(`RunInstances returned no instance id or private DNS name`);
    }
    const node: TestNode = {
      instanceId: instance.InstanceId,
      nodeName: options.nodeName ?? instance.PrivateDnsName,
      zone,
      providerID: providerIdFor(zone, instance.InstanceId),
    };
    if (options.withNodeObject ?? true) {
      await this.core.createNode({
        body: {
          metadata: {
            name: node.nodeName,
            labels: {
              [testClusterLabel]: this.name,
              'kubernetes.io/hostname': node.nodeName,
              'topology.kubernetes.io/region': testRegion,
              'topology.kubernetes.io/zone': zone,
              'node.kubernetes.io/instance-type': 'm7g.large',
            },
          },
          spec: { providerID: node.providerID },
        },
      });
    }
    return node;
  }

  /**
   * Creates an EBS volume, attaches it to the node's instance, and records it in Kubernetes as
   * the EBS CSI driver would: a PersistentVolume and a VolumeAttachment that the
   * external-attacher has marked attached.
   */
  async addVolume(node: TestNode, options: AddVolumeOptions = {}): Promise<TestVolume> {
    const provisioner = options.provisioner ?? 'csi';
    const persistentVolumeName = `pvc-${randomUUID()}`;
    const created = await this.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: node.zone,
        Size: 10,
        VolumeType: 'gp3',
        TagSpecifications: [
          { ResourceType: 'volume', Tags: this.volumeTags(provisioner, persistentVolumeName) },
        ],
      }),
    );
    const volumeId = created.VolumeId;
    if (!volumeId) throw new Error('CreateVolume returned no volume id');
    const device = this.nextDevice(node.instanceId);
    // A phantom node's instance is unknown to EC2: its volume is simply available.
    if (!node.phantom) {
      await this.ec2.send(
        new AttachVolumeCommand({
          VolumeId: volumeId,
          InstanceId: node.instanceId,
          Device: device,
        }),
      );
      await this.waitForAttachment(volumeId, node.instanceId);
    }

    const pv = this.persistentVolume(persistentVolumeName, volumeId, node.zone, provisioner);
    if (options.claimName && pv.spec) {
      pv.spec.claimRef = {
        kind: 'PersistentVolumeClaim',
        namespace: 'default',
        name: options.claimName,
      };
    }
    await this.core.createPersistentVolume({ body: pv });
    const attacher = attacherOf(provisioner);
    const attachmentName = volumeAttachmentName(volumeId, attacher, node.nodeName);
    if (options.withVolumeAttachment ?? true) {
      await this.createAttachedVolumeAttachment(
        attachmentName,
        persistentVolumeName,
        node,
        device,
        attacher,
      );
    }
    return {
      volumeId,
      persistentVolumeName,
      volumeAttachmentName: attachmentName,
      device,
      provisioner,
    };
  }

  /**
   * A Node whose instance EC2 no longer knows: terminated so long ago that DescribeInstances
   * forgot it. Its providerID names an instance id that never existed in the emulator.
   */
  async addPhantomNode(zone = `${testRegion}a`): Promise<TestNode> {
    const instanceId = `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
    const [a, b, c] = randomBytes(3);
    const nodeName = `ip-10-${a}-${b}-${c}.ec2.internal`;
    const node: TestNode = {
      instanceId,
      nodeName,
      zone,
      providerID: providerIdFor(zone, instanceId),
      phantom: true,
    };
    await this.core.createNode({
      body: {
        metadata: { name: nodeName, labels: { [testClusterLabel]: this.name } },
        spec: { providerID: node.providerID },
      },
    });
    return node;
  }

  /** Terminates the instance and waits until EC2 reports it terminated. */
  terminateInstance(node: TestNode): Promise<void> {
    return terminateInstance(this.ec2, node.instanceId);
  }

  /** Stops the instance (its volumes stay attached) and waits until EC2 reports it stopped. */
  stopInstance(node: TestNode): Promise<void> {
    return stopInstance(this.ec2, node.instanceId);
  }

  async startInstance(node: TestNode): Promise<void> {
    await this.ec2.send(new StartInstancesCommand({ InstanceIds: [node.instanceId] }));
    await waitUntilInstanceRunning(
      { client: this.ec2, maxWaitTime: 30, minDelay: 1 },
      { InstanceIds: [node.instanceId] },
    );
  }

  /**
   * Attaches an existing volume to another node, as the attach/detach controller and the CSI
   * driver would for a rescheduled pod: EC2 attachment plus that node's VolumeAttachment.
   */
  async reattachVolume(volume: TestVolume, to: TestNode): Promise<TestVolume> {
    const device = this.nextDevice(to.instanceId);
    await this.ec2.send(
      new AttachVolumeCommand({
        VolumeId: volume.volumeId,
        InstanceId: to.instanceId,
        Device: device,
      }),
    );
    const name = volumeAttachmentName(volume.volumeId, ebsCsiAttacher, to.nodeName);
    await this.createAttachedVolumeAttachment(name, volume.persistentVolumeName, to, device);
    return { ...volume, volumeAttachmentName: name, device };
  }

  /**
   * Attaches a volume that is not this cluster's (no PersistentVolume, another cluster's tag)
   * to the node's instance, as another team's tooling might.
   */
  attachForeignVolume(node: TestNode): Promise<string> {
    return this.attachUnclaimedVolume(node, [
      { Key: 'kubernetes.io/cluster/some-other-cluster', Value: 'owned' },
      { Key: 'ebs.csi.aws.com/cluster', Value: 'true' },
    ]);
  }

  /**
   * Attaches a volume tagged for this cluster that no PersistentVolume names, as Karpenter and
   * kOps leave on nodes (a data or etcd volume).
   */
  attachClusterTaggedVolume(node: TestNode): Promise<string> {
    return this.attachUnclaimedVolume(node, [{ Key: this.clusterTagKey, Value: 'owned' }]);
  }

  /** Attaches a new volume with these tags, and no PersistentVolume, to the node's instance. */
  private async attachUnclaimedVolume(node: TestNode, tags: Tag[]): Promise<string> {
    const created = await this.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: node.zone,
        Size: 10,
        TagSpecifications: [{ ResourceType: 'volume', Tags: tags }],
      }),
    );
    const volumeId = created.VolumeId;
    if (!volumeId) throw new Error('CreateVolume returned no volume id');
    await this.ec2.send(
      new AttachVolumeCommand({
        VolumeId: volumeId,
        InstanceId: node.instanceId,
        Device: this.nextDevice(node.instanceId),
      }),
    );
    return volumeId;
  }

  /** Sets the Node's Ready condition, as its kubelet (True) or the node lifecycle controller would. */
  async setNodeReady(node: TestNode, ready: boolean): Promise<void> {
    const current = await this.core.readNodeStatus({ name: node.nodeName });
    const now = new Date();
    await this.core.replaceNodeStatus({
      name: node.nodeName,
      body: {
        ...current,
        status: {
          ...current.status,
          conditions: [
            {
              type: 'Ready',
              status: ready ? 'True' : 'Unknown',
              reason: ready ? 'KubeletReady' : 'NodeStatusUnknown',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
    });
  }

  /**
   * Renews the Node's Lease in kube-node-lease as its kubelet does every 10 s: a kubelet
   * reporting on this Node at `at`.
   */
  async renewLease(node: TestNode, at = new Date()): Promise<void> {
    const namespace = 'kube-node-lease';
    const name = node.nodeName;
    const existing = await ignoreNotFound(
      this.coordination.readNamespacedLease({ namespace, name }),
    );
    const body: V1Lease = {
      metadata: {
        name,
        namespace,
        labels: { [testClusterLabel]: this.name },
        ...(existing?.metadata?.resourceVersion
          ? { resourceVersion: existing.metadata.resourceVersion }
          : {}),
      },
      spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new V1MicroTime(at) },
    };
    if (existing) await this.coordination.replaceNamespacedLease({ namespace, name, body });
    else await this.coordination.createNamespacedLease({ namespace, body });
  }

  /** A pod bound to the Node, in namespace default: a StatefulSet's, or a node agent's. */
  async addPod(
    node: TestNode,
    name: string,
    options: { readonly tolerations?: V1Toleration[]; readonly claimName?: string } = {},
  ): Promise<{ name: string; uid: string }> {
    const pod = await this.core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name, labels: { [testClusterLabel]: this.name } },
        spec: {
          nodeName: node.nodeName,
          containers: [{ name: 'app', image: 'app' }],
          ...(options.tolerations ? { tolerations: options.tolerations } : {}),
          ...(options.claimName
            ? {
                volumes: [
                  { name: 'data', persistentVolumeClaim: { claimName: options.claimName } },
                ],
              }
            : {}),
        },
      },
    });
    return { name, uid: pod.metadata?.uid ?? '' };
  }

  /** The Node's taints now. */
  async taintsOf(node: TestNode): Promise<Array<{ key: string; value?: string; effect: string }>> {
    const current = await this.core.readNode({ name: node.nodeName });
    return (current.spec?.taints ?? []).map((t) => ({
      key: t.key,
      effect: t.effect,
      ...(t.value === undefined ? {} : { value: t.value }),
    }));
  }

  /** The volume's state and the instances EC2 says it is attached to. */
  volume(volumeId: string): Promise<{ state?: string; attachedTo: string[] }> {
    return volumeState(this.ec2, volumeId);
  }

  /** The root volume EC2 created with the instance. */
  async rootVolumeId(node: TestNode): Promise<string> {
    const described = await this.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: [node.instanceId] }),
    );
    const instance = described.Reservations?.[0]?.Instances?.[0];
    const root = instance?.BlockDeviceMappings?.find(
      (m) => m.DeviceName === instance.RootDeviceName,
    );
    if (!root?.Ebs?.VolumeId) throw new Error(`no root volume for ${node.instanceId}`);
    return root.Ebs.VolumeId;
  }

  /** The names of the VolumeAttachments of this cluster that exist now. */
  async volumeAttachmentNames(): Promise<string[]> {
    const list = await this.storage.listVolumeAttachment({ labelSelector: this.labelSelector });
    return list.items.map((a) => a.metadata?.name ?? '');
  }

  /** The instance's current state as EC2 reports it. */
  async instanceState(instanceId: string): Promise<string | undefined> {
    const described = await this.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: [instanceId] }),
    );
    return described.Reservations?.[0]?.Instances?.[0]?.State?.Name;
  }

  /** Removes what the cluster created in Kubernetes and terminates its instances. */
  async dispose(): Promise<void> {
    const attachments = await this.storage.listVolumeAttachment({
      labelSelector: this.labelSelector,
    });
    for (const attachment of attachments.items) {
      const name = attachment.metadata?.name;
      if (!name) continue;
      await ignoreNotFound(
        this.storage.patchVolumeAttachment({
          name,
          body: [{ op: 'replace', path: '/metadata/finalizers', value: [] }],
        }),
      );
      await ignoreNotFound(this.storage.deleteVolumeAttachment({ name }));
    }
    await this.core.deleteCollectionPersistentVolume({ labelSelector: this.labelSelector });
    await this.core.deleteCollectionNamespacedPod({
      namespace: 'default',
      labelSelector: this.labelSelector,
      gracePeriodSeconds: 0,
    });
    await this.coordination.deleteCollectionNamespacedLease({
      namespace: 'kube-node-lease',
      labelSelector: this.labelSelector,
    });
    await this.core.deleteCollectionNode({ labelSelector: this.labelSelector });
    const instances = await this.ec2.send(
      new DescribeInstancesCommand({
        Filters: [{ Name: `tag:${this.clusterTagKey}`, Values: ['owned'] }],
      }),
    );
    const ids = (instances.Reservations ?? [])
      .flatMap((r) => r.Instances ?? [])
      .map((i) => i.InstanceId)
      .filter((id): id is string => id !== undefined);
    if (ids.length > 0) await this.ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  }

  private volumeTags(provisioner: Provisioner, persistentVolumeName: string): Tag[] {
    const common = [{ Key: 'kubernetes.io/created-for/pv/name', Value: persistentVolumeName }];
    if (provisioner !== 'in-tree') {
      // What the EBS CSI driver tags without --k8s-tag-cluster-id: nothing names the cluster.
      return [
        ...common,
        { Key: 'CSIVolumeName', Value: persistentVolumeName },
        { Key: 'ebs.csi.aws.com/cluster', Value: 'true' },
      ];
    }
    return [
      ...common,
      { Key: this.clusterTagKey, Value: 'owned' },
      { Key: 'KubernetesCluster', Value: this.name },
    ];
  }

  private persistentVolume(
    name: string,
    volumeId: string,
    zone: string,
    provisioner: Provisioner,
  ): V1PersistentVolume {
    const source =
      provisioner === 'in-tree'
        ? { awsElasticBlockStore: { volumeID: `aws://${zone}/${volumeId}`, fsType: 'ext4' } }
        : { csi: { driver: attacherOf(provisioner), volumeHandle: volumeId, fsType: 'ext4' } };
    return {
      metadata: {
        name,
        labels: { [testClusterLabel]: this.name },
        annotations: {
          'pv.kubernetes.io/provisioned-by':
            provisioner === 'in-tree' ? 'kubernetes.io/aws-ebs' : attacherOf(provisioner),
        },
      },
      spec: {
        capacity: { storage: '10Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: provisioner === 'in-tree' ? 'gp2' : 'gp3',
        ...source,
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
    };
  }

  private async createAttachedVolumeAttachment(
    name: string,
    persistentVolumeName: string,
    node: TestNode,
    device: string,
    attacher = ebsCsiAttacher,
  ): Promise<void> {
    const body: V1VolumeAttachment = {
      metadata: {
        name,
        labels: { [testClusterLabel]: this.name },
        annotations: { [csiNodeIdAnnotation]: node.instanceId },
        finalizers: [attacherFinalizerOf(attacher)],
      },
      spec: {
        attacher,
        nodeName: node.nodeName,
        source: { persistentVolumeName },
      },
    };
    const created = await this.storage.createVolumeAttachment({ body });
    // The status is a subresource: the external-attacher sets it after ControllerPublish.
    await this.storage.replaceVolumeAttachmentStatus({
      name,
      body: { ...created, status: { attached: true, attachmentMetadata: { devicePath: device } } },
    });
  }

  /** Polls without the SDK waiter's fixed first delay: moto attaches at once. */
  private async waitForAttachment(volumeId: string, instanceId: string): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const { attachedTo } = await this.volume(volumeId);
      if (attachedTo.includes(instanceId)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${volumeId} did not attach to ${instanceId}`);
  }

  private nextDevice(instanceId: string): string {
    const used = this.devicesUsed.get(instanceId) ?? 0;
    this.devicesUsed.set(instanceId, used + 1);
    // /dev/xvdba, /dev/xvdbb, ...: the range the EBS CSI driver allocates from.
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    return `/dev/xvd${letters.charAt(1 + Math.floor(used / 26))}${letters.charAt(used % 26)}`;
  }
}

/** Resolves with undefined when the Kubernetes API answers 404. */
export async function ignoreNotFound<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return undefined;
    throw error;
  }
}
