/**
 * Whether, and for how long, a pod tolerates a taint, decided as Kubernetes decides it:
 * `ToleratesTaint` of k8s.io/api core/v1 (effect, key, operator Equal or Exists, value), and the
 * taint-eviction controller's use of the first toleration that matches and its
 * `tolerationSeconds` (none: forever; zero or less: evicted at once).
 */
import type { Taint, Toleration } from './facts.ts';

function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  switch (toleration.operator ?? '') {
    case '':
    case 'Equal':
      return (toleration.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

/**
 * How long a pod with these tolerations stays on a Node with this taint, in ms: 0 when it is
 * evicted at once, Infinity when never.
 */
export function toleratedForMs(tolerations: readonly Toleration[], taint: Taint): number {
  const match = tolerations.find((toleration) => toleratesTaint(toleration, taint));
  if (!match) return 0;
  const seconds = match.tolerationSeconds;
  if (seconds === undefined || seconds === null) return Number.POSITIVE_INFINITY;
  return Math.max(0, seconds) * 1000;
}
