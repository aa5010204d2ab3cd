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
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Builds (first run only) and starts kube-apiserver and moto; has no timeout of its own.
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
