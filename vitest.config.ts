import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * One test project per folder of test/: a file's folder is its project (`test/unit/**` runs in
 * `unit`), so a new file needs no entry anywhere. `npm run test:<project>` runs one; `npm test`
 * runs them all once. test/support holds shared helpers and no tests.
 */
const PROJECTS = {
  /** Pure code and in-process stores: no HTTP server, no pipeline. The inner loop (under 10 s). */
  unit: {},
  /** The stand-ins and what our clients send, checked against the real protocols and Nango's OpenAPI spec. */
  contract: {},
  /** The CDK construct: synth, cdk-nag, bundles. */
  infra: {},
  /** Handlers and tools over real protocols: the local pipeline, the Nango client, the CLIs. */
  pipeline: {},
  /** Fault injection and races at volume. */
  chaos: {},
} as const;

// A test file outside the project folders would silently never run: refuse to start instead.
const stray = (readdirSync('test', { recursive: true }) as string[])
  .map((f) => f.split('\\').join('/'))
  .filter((f) => f.endsWith('.test.ts') && !Object.keys(PROJECTS).includes(f.split('/')[0]!));
if (stray.length > 0)
  throw new Error(`test files outside a project folder (test/<${Object.keys(PROJECTS).join('|')}>/): ${stray.join(', ')}`);

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file gets its own process: handlers read configuration once per cold start, as on Lambda.
    pool: 'forks',
    // Pipeline files mostly wait on timers and loopback I/O, so one file per core leaves the cores
    // idle: on the 2-core CI machine three files at once take 3 minutes instead of 8, all passing.
    maxWorkers: Math.max(3, availableParallelism()),
    setupFiles: ['test/support/handler-output.ts'],
    env: {
      // Never reach AWS: fake credentials and a fixed region; every client gets a loopback endpoint.
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_EC2_METADATA_DISABLED: 'true',
      POWERTOOLS_METRICS_NAMESPACE: 'NangoMetadataSyncTest',
      POWERTOOLS_SERVICE_NAME: 'nango-metadata-sync',
    },
    projects: Object.keys(PROJECTS).map((name) => ({
      extends: true as const,
      test: {
        name,
        include: [`test/${name}/**/*.test.ts`],
        env: { VITEST_PROJECT: name },
        // Unit files share a process (no fork and re-import per file): about a third less CPU. Safe
        // because they call no handler and keep no module state; a test needing a cold start
        // belongs in another project. Infra files share one too, so aws-cdk-lib loads once and each
        // synthesized configuration is shared (test/infra/helpers.ts); they call no handler either.
        ...(name === 'unit' || name === 'infra' ? { isolate: false } : {}),
      },
    })),
  },
});
