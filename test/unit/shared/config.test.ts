import { describe, expect, it } from 'vitest';
import { loadConfig } from '#functions/shared/config.ts';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    expect(loadConfig({ CLUSTER_NAME: 'prod', EKS_CLUSTER_NAME: 'prod' })).toEqual({
      clusterName: 'prod',
      clusterAccess: { kind: 'eks', eksClusterName: 'prod' },
      dryRun: false,
      onStopped: 'remediate',
      onStoppedHibernationCapable: 'ignore',
      outOfServiceTaint: true,
      deleteTerminatedNodes: false,
      resultEventBus: undefined,
      detachTimeoutMs: 20_000,
      forceDetachTimeoutMs: 30_000,
      attacherGraceMs: 5_000,
      evictionGraceMs: 5_000,
      controllerGraceMs: 15_000,
      ec2CatchUpMs: 20_000,
      shutdownWatchMs: 60_000,
      maxActionsPerInvocation: 100,
      maxDeadNodePercent: 50,
      nodeSelector: undefined,
      lifecycleHookNames: [],
      lifecycleWaitMs: 600_000,
      lifecycleHeartbeatMs: 60_000,
      fenceHungNodes: false,
      fenceAfterMs: 300_000,
      fenceAction: 'stop',
      maxFences: 1,
      fenceWindowMs: 600_000,
      recoveryWatchMs: 60_000,
    });
  });

  it('follows replacements for RECOVERY_WATCH_SECONDS, 0 for not at all, at most 600', () => {
    const config = (seconds: string) =>
      loadConfig({ CLUSTER_NAME: 'prod', KUBECONFIG: '/k', RECOVERY_WATCH_SECONDS: seconds });

    expect(config('0').recoveryWatchMs).toBe(0);
    expect(config('90').recoveryWatchMs).toBe(90_000);
    expect(() => config('601')).toThrow(/RECOVERY_WATCH_SECONDS must be at most 600 seconds/);
    expect(() => config('-1')).toThrow(/RECOVERY_WATCH_SECONDS must be 0 \(off\) or more/);
  });

  it('keeps fencing off unless FENCE_HUNG_NODES turns it on, and reads its settings', () => {
    const on = loadConfig({
      CLUSTER_NAME: 'prod',
      KUBECONFIG: '/k',
      FENCE_HUNG_NODES: 'true',
      FENCE_AFTER_SECONDS: '120',
      FENCE_ACTION: 'terminate',
      MAX_FENCES: '2',
      FENCE_WINDOW_SECONDS: '1800',
    });

    expect(loadConfig({ CLUSTER_NAME: 'prod', KUBECONFIG: '/k' }).fenceHungNodes).toBe(false);
    expect(on).toMatchObject({
      fenceHungNodes: true,
      fenceAfterMs: 120_000,
      fenceAction: 'terminate',
      maxFences: 2,
      fenceWindowMs: 1_800_000,
    });
  });

  it('refuses a fence time shorter than a Lease, and an unknown fence action', () => {
    expect(() =>
      loadConfig({ CLUSTER_NAME: 'prod', KUBECONFIG: '/k', FENCE_AFTER_SECONDS: '10' }),
    ).toThrow(/FENCE_AFTER_SECONDS must be at least 40 seconds/);
    expect(() =>
      loadConfig({ CLUSTER_NAME: 'prod', KUBECONFIG: '/k', FENCE_ACTION: 'reboot' }),
    ).toThrow(/FENCE_ACTION must be stop or terminate/);
  });

  it('refuses fencing by stop while stopped instances are ignored: the fenced node would keep its volumes', () => {
    expect(() =>
      loadConfig({
        CLUSTER_NAME: 'prod',
        KUBECONFIG: '/k',
        FENCE_HUNG_NODES: 'true',
        ON_STOPPED: 'ignore',
      }),
    ).toThrow(/FENCE_HUNG_NODES with FENCE_ACTION=stop needs ON_STOPPED=remediate/);
  });

  it('says what the renamed MAX_VOLUMES_PER_INVOCATION became', () => {
    expect(() =>
      loadConfig({ CLUSTER_NAME: 'prod', KUBECONFIG: '/k', MAX_VOLUMES_PER_INVOCATION: '50' }),
    ).toThrow(/MAX_VOLUMES_PER_INVOCATION was renamed MAX_ACTIONS_PER_INVOCATION/);
  });

  it('reads a kubeconfig secret by ARN', () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:kubeconfig-AbCdEf';

    expect(loadConfig({ CLUSTER_NAME: 'prod', KUBECONFIG_SECRET_ARN: arn }).clusterAccess).toEqual({
      kind: 'kubeconfig-secret',
      secretArn: arn,
    });
  });

  it('names every bad setting in one error', () => {
    expect(() =>
      loadConfig({
        KUBECONFIG: '/k',
        DRY_RUN: 'maybe',
        ON_STOPPED: 'later',
        DETACH_TIMEOUT_SECONDS: 'soon',
      }),
    ).toThrow(
      /CLUSTER_NAME is required.*DRY_RUN must be true or false.*ON_STOPPED must be remediate or ignore.*DETACH_TIMEOUT_SECONDS must be a number of seconds/,
    );
  });

  it('asks for exactly one way to reach the cluster', () => {
    expect(() => loadConfig({ CLUSTER_NAME: 'prod' })).toThrow(
      /set exactly one of EKS_CLUSTER_NAME.*none is set/,
    );
    expect(() =>
      loadConfig({ CLUSTER_NAME: 'prod', EKS_CLUSTER_NAME: 'prod', KUBECONFIG: '/k' }),
    ).toThrow(/EKS_CLUSTER_NAME and KUBECONFIG are set/);
  });

  it('refuses a secret that is not an ARN', () => {
    expect(() =>
      loadConfig({ CLUSTER_NAME: 'prod', KUBECONFIG_SECRET_ARN: 'my-kubeconfig' }),
    ).toThrow(/KUBECONFIG_SECRET_ARN must be the ARN of a Secrets Manager secret/);
  });

  it('reads the lifecycle hook names as a list', () => {
    const config = loadConfig({
      CLUSTER_NAME: 'prod',
      KUBECONFIG: '/k',
      LIFECYCLE_HOOK_NAMES: ' drain , ebs-volume-remediator ',
    });

    expect(config.lifecycleHookNames).toEqual(['drain', 'ebs-volume-remediator']);
  });

  it('throws a ConfigurationError', () => {
    expect(() => loadConfig({})).toThrow(expect.objectContaining({ name: 'ConfigurationError' }));
  });
});
