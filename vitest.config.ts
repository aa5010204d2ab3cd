import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The JSON results let .ci/run print one closing line of counts.
    reporters: ['default', 'json'],
    outputFile: { json: '.cache/test-results.json' },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          // The CDK app: template assertions, cdk-nag and cfn-lint on the synthesized template.
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: ['test/integration/outage/**'],
          // Builds (first run only) and starts kube-apiserver and moto; has no timeout of its own.
          globalSetup: ['test/support/global-setup.ts'],
          // In-process functions would print EMF lines into the test output; the bundle test,
          // which checks them, runs the function in its own process with its own environment.
          env: { POWERTOOLS_METRICS_DISABLED: 'true' },
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          // Tests that take a shared part down (the CSI controller), on the same environment
          // (global setup shares it). Their own group order puts them in a group of their own,
          // which vitest runs apart from every other (after the others with several workers,
          // before them with one, as on 2 cores), so no other test waits on the outage.
          name: 'outage',
          include: ['test/integration/outage/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          env: { POWERTOOLS_METRICS_DISABLED: 'true' },
          sequence: { groupOrder: 1 },
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
