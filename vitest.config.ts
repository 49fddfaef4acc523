import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file gets its own process: handlers read configuration once per cold start, as on Lambda.
    pool: 'forks',
    env: {
      // Never reach AWS: fake credentials and a fixed region; every client gets a loopback endpoint.
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_EC2_METADATA_DISABLED: 'true',
      POWERTOOLS_METRICS_NAMESPACE: 'NangoMetadataSyncTest',
      POWERTOOLS_SERVICE_NAME: 'nango-metadata-sync',
      // Node 20 is what this machine has; the SDK's end-of-support notice is noise in test output.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
