import { defineConfig } from 'vitest/config';

/**
 * The test projects, by folder, so a file added to a folder lands in its project without touching
 * this file. `npm run test:<project>` runs one; `npm test` runs them all once. A test file in a
 * folder no project names still runs, in `other`, so nothing is skipped silently.
 */
export const PROJECTS = {
  /** Pure code and in-process stores: no HTTP server, no pipeline. The inner loop (under 15 s). */
  unit: ['test/unit/**', 'test/properties/**', 'test/state/**', 'test/docs/**', 'test/domain/**', 'test/events/**'],
  /** The stand-ins and what our clients send, checked against the real protocols and Nango's OpenAPI spec. */
  contract: ['test/contract/**', 'test/standins/**'],
  /** The CDK construct: synth, cdk-nag, bundles. */
  infra: ['test/infra/**'],
  /** Handlers and tools over real protocols: the local pipeline, the Nango client, the CLIs. */
  pipeline: [
    'test/pipeline/**',
    'test/hostile/**',
    'test/dlq/**',
    'test/webhook/**',
    'test/reconcile/**',
    'test/send/**',
    'test/nango/**',
    'test/harness/**',
    'test/cli/**',
    'test/route/**',
    'test/functions/**',
    'test/local-pipeline.test.ts',
  ],
  /** Fault injection and races at volume. */
  chaos: ['test/chaos/**'],
} as const;

const TEST_FILE = '**/*.test.ts';
/** A folder glob (`test/unit/**`) as the test files under it; a file stays itself. */
const testFiles = (globs: readonly string[]) => globs.map((g) => (g.endsWith('/**') ? `${g}/${TEST_FILE}` : g));

export default defineConfig({
  test: {
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
    projects: [
      ...Object.entries(PROJECTS).map(([name, globs]) => ({
        extends: true as const,
        test: {
          name,
          include: testFiles(globs),
          // Unit files share a process (no fork and re-import per file): about a third less CPU. Safe
          // because they call no handler and keep no module state; a test needing a cold start
          // belongs in another project.
          ...(name === 'unit' ? { isolate: false } : {}),
        },
      })),
      {
        extends: true as const,
        test: {
          name: 'other',
          include: [`test/${TEST_FILE}`],
          exclude: ['**/node_modules/**', ...Object.values(PROJECTS).flatMap(testFiles)],
        },
      },
    ],
  },
});
