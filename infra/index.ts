/**
 * The package's public entry: `import { EbsVolumeRemediator } from 'ebs-volume-remediator'`.
 * What is exported here is the public API (semantic versioning, CHANGELOG.md); nothing else
 * in the package is.
 */

export { fencedAtTag } from '../functions/shared/contract/fence-tag.ts';
export { metricNames, metricsNamespace } from '../functions/shared/contract/metric-names.ts';
export * from '../functions/shared/contract/result-events.ts';
export {
  EbsVolumeRemediator,
  type EbsVolumeRemediatorProps,
  type FenceHungNodesProps,
  kubernetesGroup,
  type LifecycleHookProps,
} from './ebs-volume-remediator.ts';
