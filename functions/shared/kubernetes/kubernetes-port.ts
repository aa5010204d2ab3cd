// Types only (erased from the bundle): the objects as the API serves them.
import type {
  V1Node,
  V1PersistentVolume,
  V1Pod,
  V1Taint,
  V1VolumeAttachment,
} from '@kubernetes/client-node';
import {
  csiNodeIdAnnotation,
  nodeLeaseNamespace,
  taintEvictionReason,
} from '../contract/kubernetes-identity.ts';
import { parseEbsVolumeId } from '../identity/aws-ids.ts';
import { isEbsAttacher } from '../identity/volume-attachment-name.ts';
import { cutOffReached, cutOffSignal, cutOffText } from '../lambda/invocation-cut-off.ts';
import type { AttachmentFacts, NodeFacts, PodFacts, Taint } from '../remediation/facts.ts';
import type { KubernetesPort, NodeChange } from '../remediation/ports.ts';
import { ClusterAccessError, causeText, messageOf, RemediationError } from '../util/errors.ts';
import type { ClusterEndpoint } from './kubeconfig.ts';
import {
  createKubernetesHttp,
  KubernetesApiError,
  type KubernetesRequest,
} from './kubernetes-http.ts';

const pageSize = 500;
/** Optimistic-concurrency retries of a patch whose resourceVersion test failed. */
const patchAttempts = 3;

function statusOf(error: unknown): number | undefined {
  return error instanceof KubernetesApiError ? error.status : undefined;
}

/** What the API said (the Status object's reason and message), or why it said nothing; cut. */
function answerOf(error: unknown): string {
  return causeText(messageOf(error));
}

/** Throttle answers retried per call, and the longest Retry-After honoured. */
const throttleRetries = 3;
const maxRetryAfterMs = 5_000;

/**
 * How long a 429 or 503 with Retry-After asks to wait (API priority and fairness, an apiserver
 * starting up); undefined for any other failure, which is not retried here.
 */
function retryAfterMs(error: unknown): number | undefined {
  if (!(error instanceof KubernetesApiError) || (error.status !== 429 && error.status !== 503)) {
    return undefined;
  }
  const seconds = error.retryAfterSeconds;
  if (seconds === undefined) return undefined;
  return Math.min(Math.max(seconds * 1000, 100), maxRetryAfterMs);
}

/** Long enough for a list page of 500 objects from a busy apiserver; short against Lambda's timeout. */
const defaultRequestTimeoutMs = 10_000;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs one API request, waiting out the throttle answers that say when to come back. */
async function honouringRetryAfter<T>(
  request: () => Promise<T>,
  sleep: (ms: number) => Promise<void>,
): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await request();
    } catch (error) {
      const wait = retryAfterMs(error);
      if (wait === undefined || retry >= throttleRetries) throw error;
      await sleep(wait);
    }
  }
}

/**
 * Wraps a failed call: no answer, 401 or 403 mean the cluster cannot be used as configured;
 * anything else is a failure of that one step. Both are retried by Lambda.
 */
function failure(what: string, server: string, error: unknown): Error {
  if (cutOffReached()) return new RemediationError(`${what}: ${cutOffText}`, { cause: error });
  const status = statusOf(error);
  if (status === undefined) {
    return new ClusterAccessError(
      `${what}: the Kubernetes API at ${server} did not answer (${answerOf(error)}); check the ` +
        'cluster endpoint, the network path from the function (VPC, security groups) and the credentials',
      { cause: error },
    );
  }
  if (status === 401 || status === 403) {
    return new ClusterAccessError(
      `${what}: the Kubernetes API at ${server} answered ${status}; check that the remediator's ` +
        'identity is mapped to group ebs-volume-remediator and infra/kubernetes/rbac.yaml is applied',
      { cause: error },
    );
  }
  return new RemediationError(`${what}: Kubernetes API answered ${status}: ${answerOf(error)}`, {
    cause: error,
  });
}

/** A time as the API serves it (RFC 3339, MicroTime included), in epoch ms. */
function epochMs(time: unknown): number | undefined {
  if (time === undefined || time === null) return undefined;
  const at = Date.parse(String(time instanceof Date ? time.toISOString() : time));
  return Number.isNaN(at) ? undefined : at;
}

function nodeFacts(node: V1Node): NodeFacts {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const heartbeat = ready?.status === 'True' ? epochMs(ready.lastHeartbeatTime) : undefined;
  return {
    name: node.metadata?.name ?? '',
    ...(node.metadata?.uid ? { uid: node.metadata.uid } : {}),
    ...(ready ? { ready: ready.status === 'True' } : {}),
    ...(heartbeat === undefined ? {} : { readyHeartbeatAt: heartbeat }),
    ...(node.spec?.providerID ? { providerId: node.spec.providerID } : {}),
    taints: (node.spec?.taints ?? []).map((t) => ({
      key: t.key,
      effect: t.effect,
      ...(t.value === undefined ? {} : { value: t.value }),
    })),
  };
}

function attachmentFacts(attachment: V1VolumeAttachment): AttachmentFacts {
  const inline = attachment.spec.source.inlineVolumeSpec;
  const inlineReference = inline?.csi?.volumeHandle ?? inline?.awsElasticBlockStore?.volumeID;
  const nodeId = attachment.metadata?.annotations?.[csiNodeIdAnnotation];
  return {
    name: attachment.metadata?.name ?? '',
    ...(attachment.metadata?.uid ? { uid: attachment.metadata.uid } : {}),
    attacher: attachment.spec.attacher,
    nodeName: attachment.spec.nodeName,
    ...(nodeId ? { nodeIdAnnotation: nodeId } : {}),
    ...(attachment.spec.source.persistentVolumeName
      ? { persistentVolumeName: attachment.spec.source.persistentVolumeName }
      : {}),
    ...(inlineReference ? { inlineVolumeReference: inlineReference } : {}),
    deleting: attachment.metadata?.deletionTimestamp !== undefined,
    finalizers: attachment.metadata?.finalizers ?? [],
    ...(attachment.metadata?.resourceVersion
      ? { resourceVersion: attachment.metadata.resourceVersion }
      : {}),
  };
}

function podFacts(pod: V1Pod): PodFacts {
  const deleting = pod.metadata?.deletionTimestamp !== undefined;
  const evicted = (pod.status?.conditions ?? []).some(
    (c) => c.type === 'DisruptionTarget' && c.status === 'True' && c.reason === taintEvictionReason,
  );
  const name = pod.metadata?.name ?? '';
  const volumes = pod.spec?.volumes ?? [];
  return {
    namespace: pod.metadata?.namespace ?? '',
    name,
    uid: pod.metadata?.uid ?? '',
    deleting,
    evictedByTaintManager: deleting && evicted,
    tolerations: (pod.spec?.tolerations ?? []).map(
      ({ key, operator, value, effect, tolerationSeconds }) => ({
        ...(key === undefined ? {} : { key }),
        ...(operator === undefined ? {} : { operator }),
        ...(value === undefined ? {} : { value }),
        ...(effect === undefined ? {} : { effect }),
        ...(tolerationSeconds === undefined ? {} : { tolerationSeconds }),
      }),
    ),
    // A generic ephemeral volume's claim is named <pod>-<volume> (Kubernetes' ephemeral controller).
    claims: volumes.flatMap((v) =>
      v.persistentVolumeClaim
        ? [v.persistentVolumeClaim.claimName]
        : v.ephemeral
          ? [`${name}-${v.name}`]
          : [],
    ),
    inlineVolumeIds: volumes.flatMap((v) => {
      const id = parseEbsVolumeId(v.awsElasticBlockStore?.volumeID);
      return id ? [id] : [];
    }),
  };
}

const sameTaint = (a: Taint, b: Taint) =>
  a.key === b.key && (a.value ?? '') === (b.value ?? '') && a.effect === b.effect;

/** Where the API keeps the objects the remediator reads and changes. */
const nodes = '/api/v1/nodes';
const pods = '/api/v1/pods';
const persistentVolumes = '/api/v1/persistentvolumes';
const volumeAttachments = '/apis/storage.k8s.io/v1/volumeattachments';
const nodeLeases = `/apis/coordination.k8s.io/v1/namespaces/${nodeLeaseNamespace}/leases`;
const named = (collection: string, name: string) => `${collection}/${encodeURIComponent(name)}`;
const namespacedPod = (namespace: string, name: string) =>
  `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;

interface List<T> {
  readonly items: T[];
  readonly metadata?: { readonly continue?: string };
}

/** The KubernetesPort over the API's REST paths, for one cluster. */
export function createKubernetesPort(
  endpoint: ClusterEndpoint,
  options: {
    readonly sleep?: (ms: number) => Promise<void>;
    /** How long one request may take before it is abandoned as unanswered. */
    readonly requestTimeoutMs?: number;
  } = {},
): KubernetesPort {
  const sleep = options.sleep ?? defaultSleep;
  const requestTimeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
  const http = createKubernetesHttp(endpoint);
  const server = endpoint.server;
  /**
   * One request: abandoned after its own timeout (a hung apiserver would otherwise hold the
   * invocation until Lambda cuts it off, unreported) or at the invocation's cut-off, and retried
   * after a throttle answer's Retry-After before it counts as failed.
   */
  const api = <T>(request: Omit<KubernetesRequest, 'signal'>): Promise<T> =>
    honouringRetryAfter(() => {
      const cutOff = cutOffSignal();
      const timeout = AbortSignal.timeout(requestTimeoutMs);
      return http<T>({ ...request, signal: cutOff ? AbortSignal.any([timeout, cutOff]) : timeout });
    }, sleep);
  const get = <T>(path: string, query?: KubernetesRequest['query']) =>
    api<T>({ method: 'GET', path, ...(query ? { query } : {}) });
  /** The resourceVersion and taints of each Node in the last list, for a patch without a read. */
  const listedNodes = new Map<string, V1Node>();
  /** The uid and resourceVersion of each VolumeAttachment in the last list, likewise. */
  const listedAttachments = new Map<string, V1VolumeAttachment>();
  const jsonPatch = <T>(path: string, patch: object[]) =>
    api<T>({ method: 'PATCH', path, body: patch, contentType: 'application/json-patch+json' });

  async function call<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw failure(what, server, error);
    }
  }

  /** Every item of a list, page by page (`limit` and `continue`), so large clusters stay cheap. */
  async function listAll<T, R>(
    what: string,
    path: string,
    query: Record<string, string>,
    toFacts: (item: T) => R,
  ): Promise<R[]> {
    const all: R[] = [];
    let next: string | undefined;
    do {
      const page = await call(what, () =>
        get<List<T>>(path, { ...query, limit: pageSize, continue: next }),
      );
      for (const item of page.items ?? []) all.push(toFacts(item));
      next = page.metadata?.continue || undefined;
    } while (next);
    return all;
  }

  /** Reads, changes and writes back with a resourceVersion test, retrying on a conflict. */
  async function patchWithTest<T extends { metadata?: { resourceVersion?: string } }, R>(
    what: string,
    read: () => Promise<T>,
    change: (current: T) => object[] | undefined,
    write: (patch: object[]) => Promise<R>,
    first?: T,
  ): Promise<R | undefined> {
    for (let attempt = 1; ; attempt++) {
      let current: T;
      try {
        current = attempt === 1 && first ? first : await read();
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw failure(what, server, error);
      }
      const operations = change(current);
      if (!operations) return undefined;
      const patch = [
        { op: 'test', path: '/metadata/resourceVersion', value: current.metadata?.resourceVersion },
        ...operations,
      ];
      try {
        return await write(patch);
      } catch (error) {
        const status = statusOf(error);
        if (status === 404) return undefined;
        // 422 or 409: the object changed between read and write; read it again.
        if ((status === 422 || status === 409) && attempt < patchAttempts) continue;
        throw failure(what, server, error);
      }
    }
  }

  /**
   * Changes a Node's taints, only on the Node with this uid when one is given (a Node created
   * again under the name, or adopted by another instance's kubelet after a delete, is someone
   * else's), with a resourceVersion test. `change` returns the new taints, or undefined when
   * there is nothing to change.
   */
  async function changeNodeTaints(
    what: string,
    nodeName: string,
    uid: string | undefined,
    change: (taints: V1Taint[]) => V1Taint[] | undefined,
    first?: V1Node,
  ): Promise<NodeChange> {
    // Set by the callbacks below, as the Node read last decides.
    const seen: { outcome: NodeChange } = { outcome: 'gone' };
    const patched = await patchWithTest(
      what,
      () => {
        seen.outcome = 'gone'; // until the Node read again says otherwise
        return get<V1Node>(named(nodes, nodeName));
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
      (patch) => jsonPatch<V1Node>(named(nodes, nodeName), patch),
      first,
    );
    // A patch that met a 404 changed nothing: the Node went away in between.
    return seen.outcome === 'done' && patched === undefined ? 'gone' : seen.outcome;
  }

  return {
    listNodes: (labelSelector) => {
      listedNodes.clear();
      return listAll(
        'listing nodes',
        nodes,
        labelSelector ? { labelSelector } : {},
        (node: V1Node) => {
          const name = node.metadata?.name;
          if (name) {
            listedNodes.set(name, {
              metadata: {
                resourceVersion: node.metadata?.resourceVersion ?? '',
                ...(node.metadata?.uid ? { uid: node.metadata.uid } : {}),
              },
              spec: { taints: node.spec?.taints ?? [] },
            });
          }
          return nodeFacts(node);
        },
      );
    },

    listVolumeAttachments: () => {
      listedAttachments.clear();
      return listAll(
        'listing volumeattachments',
        volumeAttachments,
        {},
        (attachment: V1VolumeAttachment) => {
          const { name, uid, resourceVersion, deletionTimestamp } = attachment.metadata ?? {};
          if (name) {
            listedAttachments.set(name, {
              metadata: {
                ...(uid ? { uid } : {}),
                ...(resourceVersion ? { resourceVersion } : {}),
                ...(deletionTimestamp ? { deletionTimestamp } : {}),
              },
            } as V1VolumeAttachment);
          }
          return attachmentFacts(attachment);
        },
      );
    },

    async readNode(name) {
      try {
        return nodeFacts(await get<V1Node>(named(nodes, name)));
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw failure(`reading node ${name}`, server, error);
      }
    },

    listPodsOnNode: (nodeName) =>
      listAll(
        `listing the pods of node ${nodeName}`,
        pods,
        { fieldSelector: `spec.nodeName=${nodeName}` },
        podFacts,
      ),

    async readPod(namespace, name) {
      try {
        return podFacts(await get<V1Pod>(namespacedPod(namespace, name)));
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw failure(`reading pod ${namespace}/${name}`, server, error);
      }
    },

    async deleteNode(name, uid) {
      try {
        await api({
          method: 'DELETE',
          path: named(nodes, name),
          ...(uid ? { body: { preconditions: { uid } } } : {}),
        });
        return 'deleted';
      } catch (error) {
        if (statusOf(error) === 404 || (uid && statusOf(error) === 409)) return 'not-found';
        throw failure(`deleting node ${name}`, server, error);
      }
    },

    async deletePod(namespace, name, uid, how) {
      try {
        await api({
          method: 'DELETE',
          path: namespacedPod(namespace, name),
          body: { ...(how === 'force' ? { gracePeriodSeconds: 0 } : {}), preconditions: { uid } },
        });
        return 'deleted';
      } catch (error) {
        // 409: the uid precondition failed: that pod is gone, another took its name.
        if (statusOf(error) === 404 || statusOf(error) === 409) return 'not-found';
        const verb = how === 'force' ? 'force-deleting' : 'deleting';
        throw failure(`${verb} pod ${namespace}/${name}`, server, error);
      }
    },

    async readNodeLeaseRenewal(nodeName) {
      try {
        const lease = await get<{ spec?: { renewTime?: string } }>(named(nodeLeases, nodeName));
        return epochMs(lease.spec?.renewTime);
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw failure(`reading the lease of node ${nodeName}`, server, error);
      }
    },

    async readPersistentVolume(name) {
      try {
        const pv = await get<V1PersistentVolume>(named(persistentVolumes, name));
        const csi = pv.spec?.csi;
        const reference = isEbsAttacher(csi?.driver)
          ? csi?.volumeHandle
          : pv.spec?.awsElasticBlockStore?.volumeID;
        const claim = pv.spec?.claimRef;
        return {
          name,
          ...(reference ? { volumeReference: reference } : {}),
          ...(claim?.name ? { claim: `${claim.namespace ?? ''}/${claim.name}` } : {}),
        };
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw failure(`reading persistentvolume ${name}`, server, error);
      }
    },

    async readVolumeAttachment(name) {
      try {
        return attachmentFacts(await get<V1VolumeAttachment>(named(volumeAttachments, name)));
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw failure(`reading volumeattachment ${name}`, server, error);
      }
    },

    async deleteVolumeAttachment(name, uid) {
      const what = `deleting volumeattachment ${name}`;
      for (let attempt = 1; ; attempt++) {
        let current: V1VolumeAttachment;
        try {
          // First as the last list showed it (no read before the first action that frees the
          // volume); should it have changed since, the preconditions fail the delete and it is
          // read again.
          const listed = attempt === 1 ? listedAttachments.get(name) : undefined;
          current = listed ?? (await get<V1VolumeAttachment>(named(volumeAttachments, name)));
        } catch (error) {
          if (statusOf(error) === 404) return 'not-found';
          throw failure(what, server, error);
        }
        const meta = current.metadata ?? {};
        if (uid && meta.uid !== uid) return 'not-found';
        // Someone else's deletion (another run of the same event) landed first: it is theirs.
        if (meta.deletionTimestamp) return 'already-deleting';
        try {
          // The resourceVersion read: a deletion made in between fails this one, so only one of
          // two concurrent runs counts it.
          await api({
            method: 'DELETE',
            path: named(volumeAttachments, name),
            body: { preconditions: { uid: meta.uid, resourceVersion: meta.resourceVersion } },
          });
          return 'deleted';
        } catch (error) {
          if (statusOf(error) === 404) return 'not-found';
          // 409: it changed since the read (a deletion, the attacher's status); read it again.
          if (statusOf(error) === 409 && attempt < patchAttempts) continue;
          throw failure(what, server, error);
        }
      }
    },

    async removeVolumeAttachmentFinalizer(name, finalizer, seen) {
      type Meta = {
        metadata?: {
          resourceVersion?: string;
          uid?: string;
          deletionTimestamp?: unknown;
          finalizers?: string[];
        };
      };
      let notOurs: string | undefined;
      const patched = await patchWithTest<Meta, V1VolumeAttachment>(
        `removing finalizer ${finalizer} from volumeattachment ${name}`,
        async () => ({
          metadata: (await get<V1VolumeAttachment>(named(volumeAttachments, name))).metadata,
        }),
        (current) => {
          const meta = current.metadata;
          if (!seen.uid || meta?.uid !== seen.uid) {
            notOurs = `another VolumeAttachment ${name} (uid ${meta?.uid}) took the name of the one observed`;
            return undefined;
          }
          if (meta.deletionTimestamp === undefined) {
            notOurs =
              'not being deleted: a finalizer is only removed from a deleted VolumeAttachment';
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
        (patch) => jsonPatch<V1VolumeAttachment>(named(volumeAttachments, name), patch),
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
    },

    addNodeTaint: (nodeName, taint, uid) =>
      changeNodeTaints(
        `tainting node ${nodeName} with ${taint.key}`,
        nodeName,
        uid,
        (taints) => (taints.some((t) => sameTaint(t, taint)) ? undefined : [...taints, taint]),
        // The Node as the last list showed it, instead of reading it again: one round trip less
        // before the first action. Should it have changed since, the resourceVersion test fails
        // the patch, and the Node is read and patched anew.
        listedNodes.get(nodeName),
      ),

    removeNodeTaint: (nodeName, taint, uid) =>
      changeNodeTaints(
        `removing taint ${taint.key} from node ${nodeName}`,
        nodeName,
        uid,
        (taints) => {
          const remaining = taints.filter((t) => !sameTaint(t, taint));
          return remaining.length === taints.length ? undefined : remaining;
        },
      ),
  };
}
