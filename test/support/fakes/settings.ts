/**
 * The remediation settings unit tests run with: the cluster `prod`, every wait short (the fakes
 * answer at once), the circuit breaker at its defaults. A test spreads its own changes over it.
 */
import type { RemediationSettings } from '#functions/shared/remediation/remediate.ts';

export const unitTestSettings: RemediationSettings = {
  clusterName: 'prod',
  onStopped: 'remediate',
  outOfServiceTaint: true,
  detachTimeoutMs: 1000,
  forceDetachTimeoutMs: 1000,
  attacherGraceMs: 0,
  evictionGraceMs: 0,
  deleteTerminatedNodes: false,
  controllerGraceMs: 0,
  maxActionsPerInvocation: 100,
  maxDeadNodePercent: 50,
  dryRun: false,
};
