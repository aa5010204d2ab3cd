/**
 * A typed, stateful Kubernetes port for unit tests: Nodes, pods, VolumeAttachments,
 * PersistentVolumes and Leases held in memory and changed as the API would change them (uid
 * preconditions included), every call recorded, any call able to fail. Tests change its state,
 * or override one method for a behaviour of their own (`{ ...kube, addNodeTaint: ... }`: the
 * methods close over the state, so the others go on working on it).
 */
import type {
  AttachmentFacts,
  NodeFacts,
  PersistentVolumeFacts,
  PodFacts,
  Taint,
} from '#functions/shared/remediation/facts.ts';
import type {
  EventToWrite,
  KubernetesPort,
  NodeChange,
} from '#functions/shared/remediation/ports.ts';
import { CallLog } from './recorder.ts';

/** An Event as written, with its series as updated since. */
export type FakeEvent = EventToWrite & {
  readonly namespace: string;
  readonly name: string;
  series?: { count: number; lastObservedTime: number };
};

/** A pod, and the Node it is bound to. */
export type FakePod = PodFacts & { readonly nodeName: string };

export interface FakeKubernetes extends KubernetesPort {
  readonly log: CallLog;
  /** The cluster's objects, changed in place (a reference taken before a run stays current). */
  readonly nodes: NodeFacts[];
  readonly pods: FakePod[];
  readonly attachments: AttachmentFacts[];
  readonly persistentVolumes: Map<string, PersistentVolumeFacts>;
  /** When each Node's Lease was last renewed (epoch ms). */
  readonly leases: Map<string, number>;
  /** The Events written, in order. */
  readonly events: FakeEvent[];
}

const sameTaint = (a: Taint, b: Taint) =>
  a.key === b.key && (a.value ?? '') === (b.value ?? '') && a.effect === b.effect;

/** Replaces `item` in `list` in place, or removes it when `next` is undefined. */
function replace<T>(list: T[], item: T, next?: T): void {
  const at = list.indexOf(item);
  if (at < 0) return;
  if (next === undefined) list.splice(at, 1);
  else list[at] = next;
}

export function fakeKubernetes(
  state: {
    nodes?: readonly NodeFacts[];
    pods?: readonly FakePod[];
    attachments?: readonly AttachmentFacts[];
    /** Shared with other fakes to see the order of calls across ports. */
    log?: CallLog;
  } = {},
): FakeKubernetes {
  const log = state.log ?? new CallLog();
  const nodes = [...(state.nodes ?? [])];
  const pods = [...(state.pods ?? [])];
  const attachments = [...(state.attachments ?? [])];
  const persistentVolumes = new Map<string, PersistentVolumeFacts>();
  const leases = new Map<string, number>();
  const events: FakeEvent[] = [];
  const node = (name: string) => nodes.find((n) => n.name === name);
  const pod = (namespace: string, name: string) =>
    pods.find((p) => p.namespace === namespace && p.name === name);
  const attachment = (name: string) => attachments.find((a) => a.name === name);

  const changeTaints = (
    nodeName: string,
    uid: string | undefined,
    change: (taints: readonly Taint[]) => Taint[] | undefined,
  ): NodeChange => {
    const current = node(nodeName);
    if (!current) return 'gone';
    if (uid && current.uid !== uid) return 'not-ours';
    const taints = change(current.taints);
    if (!taints) return 'already-done';
    replace(nodes, current, { ...current, taints });
    return 'done';
  };

  return {
    log,
    nodes,
    pods,
    attachments,
    persistentVolumes,
    leases,
    events,

    async listNodes(labelSelector) {
      log.enter('listNodes', [labelSelector]);
      return [...nodes];
    },

    async readNode(name) {
      log.enter('readNode', [name]);
      return node(name);
    },

    async listVolumeAttachments() {
      log.enter('listVolumeAttachments', []);
      return [...attachments];
    },

    async readPersistentVolume(name) {
      log.enter('readPersistentVolume', [name]);
      return persistentVolumes.get(name);
    },

    async readVolumeAttachment(name) {
      log.enter('readVolumeAttachment', [name]);
      return attachment(name);
    },

    /** Deleted at once, as when no attacher holds a finalizer. */
    async deleteVolumeAttachment(name, uid) {
      log.enter('deleteVolumeAttachment', [name, uid]);
      const current = attachment(name);
      if (!current || (uid && current.uid !== uid)) return 'not-found';
      if (current.deleting) return 'already-deleting';
      replace(attachments, current);
      return 'deleted';
    },

    async removeVolumeAttachmentFinalizer(name, finalizer, seen) {
      log.enter('removeVolumeAttachmentFinalizer', [name, finalizer, seen]);
      const current = attachment(name);
      if (!current?.finalizers.includes(finalizer)) return { outcome: 'gone' };
      if (current.uid !== seen.uid || !current.deleting) {
        return { outcome: 'not-ours', reason: `VolumeAttachment ${name} is not the one observed` };
      }
      const remaining = current.finalizers.filter((f) => f !== finalizer);
      // A deleted object whose last finalizer goes is gone.
      replace(
        attachments,
        current,
        remaining.length > 0 ? { ...current, finalizers: remaining } : undefined,
      );
      return { outcome: 'removed', remaining };
    },

    async listPodsOnNode(nodeName) {
      log.enter('listPodsOnNode', [nodeName]);
      return pods.filter((p) => p.nodeName === nodeName);
    },

    async readPod(namespace, name) {
      log.enter('readPod', [namespace, name]);
      return pod(namespace, name);
    },

    async deletePod(namespace, name, uid, how) {
      log.enter('deletePod', [namespace, name, uid, how]);
      const current = pod(namespace, name);
      if (!current || current.uid !== uid) return 'not-found';
      // On a dead Node a graceful delete only marks the pod Terminating.
      replace(pods, current, how === 'force' ? undefined : { ...current, deleting: true });
      return 'deleted';
    },

    async readNodeLeaseRenewal(nodeName) {
      log.enter('readNodeLeaseRenewal', [nodeName]);
      return leases.get(nodeName);
    },

    async listNodeLeaseRenewals() {
      log.enter('listNodeLeaseRenewals', []);
      return new Map(leases);
    },

    async deleteNode(name, uid) {
      log.enter('deleteNode', [name, uid]);
      const current = node(name);
      if (!current || (uid && current.uid !== uid)) return 'not-found';
      replace(nodes, current);
      return 'deleted';
    },

    async addNodeTaint(nodeName, taint, uid) {
      log.enter('addNodeTaint', [nodeName, taint, uid]);
      return changeTaints(nodeName, uid, (taints) =>
        taints.some((t) => sameTaint(t, taint)) ? undefined : [...taints, taint],
      );
    },

    async removeNodeTaint(nodeName, taint, uid) {
      log.enter('removeNodeTaint', [nodeName, taint, uid]);
      return changeTaints(nodeName, uid, (taints) => {
        const remaining = taints.filter((t) => !sameTaint(t, taint));
        return remaining.length === taints.length ? undefined : remaining;
      });
    },

    async listPods(namespace) {
      log.enter('listPods', [namespace]);
      return pods.filter((p) => p.namespace === namespace);
    },

    async createEvent(event) {
      log.enter('createEvent', [event.regarding.name, event.reason]);
      const written = {
        namespace: event.regarding.namespace ?? 'default',
        name: `${event.regarding.name}.${events.length}`,
      };
      events.push({ ...event, ...written });
      return written;
    },

    async patchEventSeries(written, count, lastObservedTime) {
      log.enter('patchEventSeries', [written.name, count]);
      const event = events.find(
        (e) => e.namespace === written.namespace && e.name === written.name,
      );
      if (!event) throw new Error(`events.k8s.io "${written.name}" not found`);
      event.series = { count, lastObservedTime };
    },
  };
}
