/**
 * The package's second entry, for TypeScript only: `import { resultEventSource } from
 * 'ebs-volume-remediator/contract'`. The contracts a consumer writes rules and code against: the
 * result events, the metric names, the fence tag, the Kubernetes group the RBAC binds. Public
 * API like the main entry (CHANGELOG.md), but outside jsii's: the result events' types are
 * string-literal unions, which other languages cannot express (README, "Result events").
 */

export { fencedAtTag } from '../functions/shared/contract/fence-tag.ts';
export { kubernetesGroup } from '../functions/shared/contract/kubernetes-identity.ts';
export { metricNames, metricsNamespace } from '../functions/shared/contract/metric-names.ts';
export * from '../functions/shared/contract/result-events.ts';
