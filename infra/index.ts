/**
 * The package's public entry: `import { EbsVolumeRemediator } from 'ebs-volume-remediator'`.
 * What is exported here is the public API (semantic versioning, CHANGELOG.md); jsii compiles it
 * for the other languages (Python and Go are built), so it holds to jsii's rules: classes, enums
 * and interfaces of readonly properties, no string-literal unions. The result events' names are
 * here too (ResultEvents); their detail's types, which need such unions, are the TypeScript-only
 * entry `ebs-volume-remediator/contract` (contract.ts).
 */

export { FenceAction, OnStopped } from './choices.ts';
export {
  EbsVolumeRemediator,
  type EbsVolumeRemediatorProps,
  type FenceHungNodesProps,
  type LifecycleHookProps,
} from './ebs-volume-remediator.ts';
export { ResultEvents } from './result-events.ts';
