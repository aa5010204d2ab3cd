/**
 * What every fake port shares: a record of its calls, each under the name of the API call it
 * stands for, and failures set up for the next call of a method.
 */

/** One call a fake port took, as the API call it stands for. */
export interface FakeCall {
  /** The port's method. */
  readonly method: string;
  /** The API call, as a person reads it: `ec2 DescribeInstances`, `kube get node`. */
  readonly api: string;
  readonly args: readonly unknown[];
}

/** The API call each method of the ports stands for. */
const apiNames: ReadonlyMap<string, string> = new Map([
  ['region', 'ec2 region'],
  ['describeInstances', 'ec2 DescribeInstances'],
  ['instanceStates', 'ec2 DescribeInstanceStatus'],
  ['describeVolumesAttachedTo', 'ec2 DescribeVolumes'],
  ['describeVolumes', 'ec2 DescribeVolumes'],
  ['detachVolume', 'ec2 DetachVolume'],
  ['listNodes', 'kube list nodes'],
  ['readNode', 'kube get node'],
  ['listVolumeAttachments', 'kube list volumeattachments'],
  ['readPersistentVolume', 'kube get persistentvolume'],
  ['readVolumeAttachment', 'kube get volumeattachment'],
  ['deleteVolumeAttachment', 'kube delete volumeattachment'],
  ['removeVolumeAttachmentFinalizer', 'kube patch volumeattachment'],
  ['listPodsOnNode', 'kube list pods'],
  ['readPod', 'kube get pod'],
  ['deletePod', 'kube delete pod'],
  ['readNodeLeaseRenewal', 'kube get lease'],
  ['listNodeLeaseRenewals', 'kube list leases'],
  ['deleteNode', 'kube delete node'],
  ['addNodeTaint', 'kube patch node'],
  ['removeNodeTaint', 'kube patch node'],
  ['listPods', 'kube list pods'],
  ['createEvent', 'kube create event'],
  ['patchEventSeries', 'kube patch event'],
  ['heartbeatTimeoutSeconds', 'autoscaling DescribeLifecycleHooks'],
  ['recordHeartbeat', 'autoscaling RecordLifecycleActionHeartbeat'],
  ['complete', 'autoscaling CompleteLifecycleAction'],
  ['statusChecks', 'ec2 DescribeInstanceStatus'],
  ['fencedInstances', 'ec2 DescribeInstances (fence tag)'],
  ['markFenced', 'ec2 CreateTags'],
  ['fence', 'ec2 StopInstances or TerminateInstances'],
]);

/** The calls of one or more fake ports, in the order they came (share one to see the order across ports). */
export class CallLog {
  readonly calls: FakeCall[] = [];
  /** The API calls taken, in order, filled in as they come. */
  readonly apiCalls: string[] = [];
  private readonly failures = new Map<string, unknown[]>();
  private readonly listeners: Array<(call: FakeCall) => void> = [];

  /** Records the call, then throws the failure set up for it, if one is. */
  enter(method: string, args: readonly unknown[]): void {
    const call = { method, api: apiNames.get(method) ?? method, args };
    this.calls.push(call);
    this.apiCalls.push(call.api);
    for (const listener of this.listeners) listener(call);
    const queued = this.failures.get(method);
    if (queued && queued.length > 0) throw queued.shift();
  }

  /** Makes the next call of `method` throw `error` (queued: call again for the calls after). */
  failNext(method: string, error: unknown): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), error]);
  }

  /** Calls `listener` with each call as it comes (to note what else held at that moment). */
  listen(listener: (call: FakeCall) => void): void {
    this.listeners.push(listener);
  }

  /** How many times `method` was called. */
  count(method: string): number {
    return this.calls.filter((c) => c.method === method).length;
  }
}
