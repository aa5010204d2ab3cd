/** The out-of-service taint of Kubernetes non-graceful node shutdown (KEP-2268), as this project uses it. */
import { outOfServiceTaintKey, outOfServiceTaintValue } from '../contract/kubernetes-identity.ts';
import type { NodeFacts, Taint } from './facts.ts';

/**
 * The taint of Kubernetes non-graceful node shutdown (KEP-2268). The value marks it as ours, so
 * that only a taint this project added is lifted when the instance runs again.
 */
export const outOfServiceTaint: Taint = {
  key: outOfServiceTaintKey,
  value: outOfServiceTaintValue,
  effect: 'NoExecute',
};

/** Whether a taint is the out-of-service taint this project adds (its value marks it ours). */
export function isOurOutOfServiceTaint(taint: Taint): boolean {
  return (
    taint.key === outOfServiceTaint.key &&
    taint.value === outOfServiceTaint.value &&
    taint.effect === outOfServiceTaint.effect
  );
}

/** The out-of-service taint a Node carries, whoever added it. */
export function outOfServiceTaintOn(node: NodeFacts | undefined): Taint | undefined {
  return node?.taints.find(
    (t) => t.key === outOfServiceTaint.key && t.effect === outOfServiceTaint.effect,
  );
}
