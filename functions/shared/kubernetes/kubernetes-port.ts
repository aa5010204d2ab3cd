/**
 * The KubernetesPort over the API's REST paths, for one cluster: each method is one or two
 * requests (api-client.ts), its answer mapped to facts (object-facts.ts). Every change names the
 * object observed (uid preconditions and resourceVersion tests).
 */
// Types only (erased from the bundle): the objects as the API serves them.
import type {
  V1Node,
  V1PersistentVolume,
  V1Taint,
  V1VolumeAttachment,
} from '@kubernetes/client-node';
import { nodeLeaseNamespace } from '../contract/kubernetes-identity.ts';
import type { AttachmentFacts } from '../remediation/facts.ts';
import type {
  EventToWrite,
  FinalizerRemoval,
  KubernetesPort,
  NodeChange,
} from '../remediation/ports.ts';
import {
  type ApiClient,
  type ApiClientOptions,
  createApiClient,
  patchAttempts,
  statusOf,
} from './api-client.ts';
import type { ClusterEndpoint } from './kubeconfig.ts';
import {
  attachmentFacts,
  epochMs,
  nodeFacts,
  persistentVolumeFacts,
  podFacts,
  sameTaint,
} from './object-facts.ts';

/** Where the API keeps the objects the remediator reads and changes. */
const nodes = '/api/v1/nodes';
const pods = '/api/v1/pods';
const persistentVolumes = '/api/v1/persistentvolumes';
const volumeAttachments = '/apis/storage.k8s.io/v1/volumeattachments';
const nodeLeases = `/apis/coordination.k8s.io/v1/namespaces/${nodeLeaseNamespace}/leases`;
const events = (namespace: string) =>
  `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`;
const named = (collection: string, name: string) => `${collection}/${encodeURIComponent(name)}`;
const namespacedPod = (namespace: string, name: string) =>
  `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;

/** What the last lists showed, kept for a change without a read before it. */
interface Listed {
  /** The resourceVersion, uid and taints of each Node in the last list. */
  readonly nodes: Map<string, V1Node>;
  /** The uid, resourceVersion and deletionTimestamp of each VolumeAttachment in the last list. */
  readonly attachments: Map<string, V1VolumeAttachment>;
}

/** The KubernetesPort over the API's REST paths, for one cluster. */
export function createKubernetesPort(
  endpoint: ClusterEndpoint,
  options: ApiClientOptions = {},
): KubernetesPort {
  const client = createApiClient(endpoint, options);
  const listed: Listed = { nodes: new Map(), attachments: new Map() };
  const { readOrNone, listAll } = client;

  return {
    listNodes: (labelSelector) => {
      listed.nodes.clear();
      return listAll(
        'listing nodes',
        nodes,
        labelSelector ? { labelSelector } : {},
        (node: V1Node) => {
          rememberNode(listed, node);
          return nodeFacts(node);
        },
      );
    },

    listVolumeAttachments: () => {
      listed.attachments.clear();
      return listAll(
        'listing volumeattachments',
        volumeAttachments,
        {},
        (va: V1VolumeAttachment) => {
          rememberAttachment(listed, va);
          return attachmentFacts(va);
        },
      );
    },

    readNode: (name) => readOrNone(`reading node ${name}`, named(nodes, name), nodeFacts),

    listPodsOnNode: (nodeName) =>
      listAll(
        `listing the pods of node ${nodeName}`,
        pods,
        { fieldSelector: `spec.nodeName=${nodeName}` },
        podFacts,
      ),

    listPods: (namespace) =>
      listAll(
        `listing the pods of namespace ${namespace}`,
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
        {},
        podFacts,
      ),

    readPod: (namespace, name) =>
      readOrNone(`reading pod ${namespace}/${name}`, namespacedPod(namespace, name), podFacts),

    async deleteNode(name, uid) {
      try {
        await client.request({
          method: 'DELETE',
          path: named(nodes, name),
          ...(uid ? { body: { preconditions: { uid } } } : {}),
        });
        return 'deleted';
      } catch (error) {
        if (statusOf(error) === 404 || (uid && statusOf(error) === 409)) return 'not-found';
        throw client.failure(`deleting node ${name}`, error);
      }
    },

    async deletePod(namespace, name, uid, how) {
      try {
        await client.request({
          method: 'DELETE',
          path: namespacedPod(namespace, name),
          body: { ...(how === 'force' ? { gracePeriodSeconds: 0 } : {}), preconditions: { uid } },
        });
        return 'deleted';
      } catch (error) {
        // 409: the uid precondition failed: that pod is gone, another took its name.
        if (statusOf(error) === 404 || statusOf(error) === 409) return 'not-found';
        const verb = how === 'force' ? 'force-deleting' : 'deleting';
        throw client.failure(`${verb} pod ${namespace}/${name}`, error);
      }
    },

    async readNodeLeaseRenewal(nodeName) {
      const renewal = await readOrNone(
        `reading the lease of node ${nodeName}`,
        named(nodeLeases, nodeName),
        (lease: { spec?: { renewTime?: string } }) => ({ at: epochMs(lease.spec?.renewTime) }),
      );
      return renewal?.at;
    },

    async listNodeLeaseRenewals() {
      const leases = await listAll(
        'listing the Leases of the nodes',
        nodeLeases,
        {},
        (lease: { metadata?: { name?: string }; spec?: { renewTime?: string } }) => ({
          name: lease.metadata?.name ?? '',
          at: epochMs(lease.spec?.renewTime),
        }),
      );
      return new Map(
        leases.flatMap(({ name, at }) => (at === undefined ? [] : [[name, at] as const])),
      );
    },

    readPersistentVolume: (name) =>
      readOrNone(
        `reading persistentvolume ${name}`,
        named(persistentVolumes, name),
        (pv: V1PersistentVolume) => persistentVolumeFacts(name, pv),
      ),

    readVolumeAttachment: (name) =>
      readOrNone(
        `reading volumeattachment ${name}`,
        named(volumeAttachments, name),
        attachmentFacts,
      ),

    deleteVolumeAttachment: (name, uid) => deleteVolumeAttachment(client, listed, name, uid),

    removeVolumeAttachmentFinalizer: (name, finalizer, seen) =>
      removeFinalizer(client, name, finalizer, seen),

    addNodeTaint: (nodeName, taint, uid) =>
      changeNodeTaints(
        client,
        `tainting node ${nodeName} with ${taint.key}`,
        nodeName,
        uid,
        (taints) => (taints.some((t) => sameTaint(t, taint)) ? undefined : [...taints, taint]),
        // The Node as the last list showed it, instead of reading it again: one round trip less
        // before the first action. Should it have changed since, the resourceVersion test fails
        // the patch, and the Node is read and patched anew.
        listed.nodes.get(nodeName),
      ),

    removeNodeTaint: (nodeName, taint, uid) =>
      changeNodeTaints(
        client,
        `removing taint ${taint.key} from node ${nodeName}`,
        nodeName,
        uid,
        (taints) => {
          const remaining = taints.filter((t) => !sameTaint(t, taint));
          return remaining.length === taints.length ? undefined : remaining;
        },
      ),

    async createEvent(event) {
      const body = eventObject(event);
      const { namespace } = body.metadata;
      try {
        await client.request({ method: 'POST', path: events(namespace), body });
      } catch (error) {
        throw client.failure(`writing event ${event.reason} on ${event.regarding.name}`, error);
      }
      return { namespace, name: body.metadata.name };
    },

    async patchEventSeries({ namespace, name }, count, lastObservedTime) {
      try {
        await client.request({
          method: 'PATCH',
          path: named(events(namespace), name),
          body: { series: { count, lastObservedTime: microTime(lastObservedTime) } },
          contentType: 'application/merge-patch+json',
        });
      } catch (error) {
        throw client.failure(`updating the series of event ${namespace}/${name}`, error);
      }
    },
  };
}

/** The API versions of the objects Events are written on. */
const apiVersions = new Map([
  ['Node', 'v1'],
  ['Pod', 'v1'],
  ['VolumeAttachment', 'storage.k8s.io/v1'],
]);

/** A MicroTime as the API parses it: RFC 3339 with exactly six fractional digits. */
function microTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Fills the nanoseconds a millisecond clock lacks, so two Events of one millisecond differ. */
let eventSequence = 0n;

/**
 * The Event as events.k8s.io/v1 takes it, named as client-go names its Events (the object's
 * name and the time in hex nanoseconds); an Event about a cluster-scoped object goes to `default`.
 */
function eventObject(event: EventToWrite) {
  const { regarding } = event;
  eventSequence = (eventSequence + 1n) % 1_000_000n;
  const nanoseconds = BigInt(event.eventTime) * 1_000_000n + eventSequence;
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: {
      name: `${regarding.name}.${nanoseconds.toString(16)}`,
      namespace: regarding.namespace ?? 'default',
    },
    eventTime: microTime(event.eventTime),
    reportingController: event.reportingController,
    reportingInstance: event.reportingInstance,
    action: event.action,
    reason: event.reason,
    note: event.note,
    type: event.type,
    regarding: {
      apiVersion: apiVersions.get(regarding.kind),
      kind: regarding.kind,
      name: regarding.name,
      ...(regarding.namespace ? { namespace: regarding.namespace } : {}),
      ...(regarding.uid ? { uid: regarding.uid } : {}),
    },
  };
}

function rememberNode(listed: Listed, node: V1Node): void {
  const name = node.metadata?.name;
  if (!name) return;
  listed.nodes.set(name, {
    metadata: {
      resourceVersion: node.metadata?.resourceVersion ?? '',
      ...(node.metadata?.uid ? { uid: node.metadata.uid } : {}),
    },
    spec: { taints: node.spec?.taints ?? [] },
  });
}

function rememberAttachment(listed: Listed, attachment: V1VolumeAttachment): void {
  const { name, uid, resourceVersion, deletionTimestamp } = attachment.metadata ?? {};
  if (!name) return;
  listed.attachments.set(name, {
    metadata: {
      ...(uid ? { uid } : {}),
      ...(resourceVersion ? { resourceVersion } : {}),
      ...(deletionTimestamp ? { deletionTimestamp } : {}),
    },
  } as V1VolumeAttachment);
}

/**
 * Deletes the VolumeAttachment with this uid, with the resourceVersion read as precondition: a
 * deletion made in between fails this one, so only one of two concurrent runs counts it.
 */
async function deleteVolumeAttachment(
  client: ApiClient,
  listed: Listed,
  name: string,
  uid: string | undefined,
): Promise<'deleted' | 'already-deleting' | 'not-found'> {
  const what = `deleting volumeattachment ${name}`;
  for (let attempt = 1; ; attempt++) {
    // First as the last list showed it (no read before the first action that frees the
    // volume); should it have changed since, the preconditions fail the delete and it is
    // read again.
    const current =
      (attempt === 1 ? listed.attachments.get(name) : undefined) ??
      (await client.readOrNone(
        what,
        named(volumeAttachments, name),
        (va: V1VolumeAttachment) => va,
      ));
    if (!current) return 'not-found';
    const meta = current.metadata ?? {};
    if (uid && meta.uid !== uid) return 'not-found';
    // Someone else's deletion (another run of the same event) landed first: it is theirs.
    if (meta.deletionTimestamp) return 'already-deleting';
    const deleted = await deleteAsRead(client, name, meta, attempt < patchAttempts);
    if (deleted !== 'changed-since') return deleted;
  }
}

/**
 * Deletes the VolumeAttachment as read: its uid and resourceVersion as preconditions. A 409 says
 * it changed since the read (a deletion, the attacher's status): it is read again.
 */
async function deleteAsRead(
  client: ApiClient,
  name: string,
  meta: { readonly uid?: string; readonly resourceVersion?: string },
  mayRetry: boolean,
): Promise<'deleted' | 'not-found' | 'changed-since'> {
  try {
    await client.request({
      method: 'DELETE',
      path: named(volumeAttachments, name),
      body: { preconditions: { uid: meta.uid, resourceVersion: meta.resourceVersion } },
    });
    return 'deleted';
  } catch (error) {
    if (statusOf(error) === 404) return 'not-found';
    if (statusOf(error) === 409 && mayRetry) return 'changed-since';
    throw client.failure(`deleting volumeattachment ${name}`, error);
  }
}

type FinalizerMeta = {
  metadata?: {
    resourceVersion?: string;
    uid?: string;
    deletionTimestamp?: unknown;
    finalizers?: string[];
  };
};

/** Removes one finalizer from the object `seen`: only from that uid, only once it is being deleted. */
async function removeFinalizer(
  client: ApiClient,
  name: string,
  finalizer: string,
  seen: AttachmentFacts,
): Promise<FinalizerRemoval> {
  let notOurs: string | undefined;
  const patched = await client.patchWithTest<FinalizerMeta, V1VolumeAttachment>(
    `removing finalizer ${finalizer} from volumeattachment ${name}`,
    async () => ({
      metadata: (await client.get<V1VolumeAttachment>(named(volumeAttachments, name))).metadata,
    }),
    (current) => {
      const meta = current.metadata;
      if (!seen.uid || meta?.uid !== seen.uid) {
        notOurs = `another VolumeAttachment ${name} (uid ${meta?.uid}) took the name of the one observed`;
        return undefined;
      }
      if (meta.deletionTimestamp === undefined) {
        notOurs = 'not being deleted: a finalizer is only removed from a deleted VolumeAttachment';
        return undefined;
      }
      const finalizers = meta.finalizers ?? [];
      if (!finalizers.includes(finalizer)) return undefined;
      const remaining = finalizers.filter((f) => f !== finalizer);
      return [
        { op: 'test', path: '/metadata/uid', value: seen.uid },
        { op: 'replace', path: '/metadata/finalizers', value: remaining },
      ];
    },
    (patch) => client.jsonPatch<V1VolumeAttachment>(named(volumeAttachments, name), patch),
    seen.resourceVersion
      ? {
          metadata: {
            resourceVersion: seen.resourceVersion,
            ...(seen.uid ? { uid: seen.uid } : {}),
            ...(seen.deleting ? { deletionTimestamp: true } : {}),
            finalizers: [...seen.finalizers],
          },
        }
      : undefined,
  );
  if (notOurs) return { outcome: 'not-ours', reason: notOurs };
  if (!patched) return { outcome: 'gone' };
  return { outcome: 'removed', remaining: patched.metadata?.finalizers ?? [] };
}

/**
 * Changes a Node's taints, only on the Node with this uid when one is given (a Node created
 * again under the name, or adopted by another instance's kubelet after a delete, is someone
 * else's), with a resourceVersion test. `change` returns the new taints, or undefined when
 * there is nothing to change.
 */
async function changeNodeTaints(
  client: ApiClient,
  what: string,
  nodeName: string,
  uid: string | undefined,
  change: (taints: V1Taint[]) => V1Taint[] | undefined,
  first?: V1Node,
): Promise<NodeChange> {
  // Set by the callbacks below, as the Node read last decides.
  const seen: { outcome: NodeChange } = { outcome: 'gone' };
  const patched = await client.patchWithTest(
    what,
    () => {
      seen.outcome = 'gone'; // until the Node read again says otherwise
      return client.get<V1Node>(named(nodes, nodeName));
    },
    (current) => {
      if (uid && current.metadata?.uid !== uid) {
        seen.outcome = 'not-ours';
        return undefined;
      }
      const taints = change(current.spec?.taints ?? []);
      seen.outcome = taints ? 'done' : 'already-done';
      if (!taints) return undefined;
      return [
        ...(uid ? [{ op: 'test', path: '/metadata/uid', value: uid }] : []),
        { op: 'add', path: '/spec/taints', value: taints },
      ];
    },
    (patch) => client.jsonPatch<V1Node>(named(nodes, nodeName), patch),
    first,
  );
  // A patch that met a 404 changed nothing: the Node went away in between.
  return seen.outcome === 'done' && patched === undefined ? 'gone' : seen.outcome;
}
