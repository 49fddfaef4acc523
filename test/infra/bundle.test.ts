/**
 * The bundle test: `cdk synth` through the real CLI (cdk.json -> infra/app.ts, cdk-nag on, local
 * esbuild, no Docker, no AWS credentials), then each synthesized bundle -- the built .mjs, not the
 * source -- is checked (ESM banner, the AWS SDK bundled in, nothing else beside it) and
 * imported in a fresh Node process with the environment the template gives its function. A bundling
 * fault (unresolved import, missing banner, bad format) fails here.
 * The entries are the construct's generated ones: the runtime's factories over the sample catalog module.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FunctionName } from '../../functions/commons/config.ts';
import { CHUNKS_DIR } from '../../infra/construct/bundling.ts';
import { ESM_BANNER, PROJECT_ROOT } from '../../infra/construct/index.ts';
import { FUNCTIONS } from './helpers.ts';

const STACK = 'NangoMetadataSync-bundletest';
const IMPORTED_MARK = '@@imported@@ ';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; input?: string; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** The environment with every AWS credential source removed: synth must not need one. */
function noCredentials(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^AWS_/.test(k)) delete env[k];
  return { ...env, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', ...extra };
}

let outdir: string;
let synth: Run;
const bundles = {} as Record<FunctionName, { file: string; env: Record<string, unknown> }>;

beforeAll(async () => {
  const cacheDir = join(PROJECT_ROOT, 'node_modules', '.cache');
  mkdirSync(cacheDir, { recursive: true });
  // Under the project, so a bundle that left anything external would still resolve it from node_modules.
  outdir = mkdtempSync(join(cacheDir, 'nms-bundle-test-'));
  synth = await run(
    process.execPath,
    [join(PROJECT_ROOT, 'node_modules/aws-cdk/bin/cdk'), 'synth', '--quiet', '--output', outdir, '-c', 'stage=bundletest'],
    { env: noCredentials({ CDK_HOME: join(outdir, '.cdk-home'), CDK_DISABLE_VERSION_CHECK: '1' }), timeoutMs: 240_000 },
  );
  if (synth.code !== 0) throw new Error(`cdk synth failed (${synth.code}):\n${synth.stderr.slice(-4000)}`);
  const template = JSON.parse(readFileSync(join(outdir, `${STACK}.template.json`), 'utf8'));
  for (const fn of FUNCTIONS) {
    const prefix = `Sync${fn[0]!.toUpperCase()}${fn.slice(1)}`;
    const [, resource] = Object.entries(template.Resources).find(
      ([id, r]: [string, any]) => r.Type === 'AWS::Lambda::Function' && new RegExp(`^${prefix}[0-9A-F]{8}$`).test(id),
    ) as [string, any];
    const assetHash = String(resource.Properties.Code.S3Key).replace(/\.zip$/, '');
    bundles[fn] = { file: join(outdir, `asset.${assetHash}`, 'index.mjs'), env: resource.Properties.Environment.Variables };
  }
}, 300_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

/**
 * The function's environment from the template, each reference replaced by a well-formed local value,
 * and every AWS endpoint pointed at a closed local port: an import must not reach anything.
 */
function localEnv(fnEnv: Record<string, unknown>): NodeJS.ProcessEnv {
  const placeholder = (name: string) =>
    name.endsWith('_URL')
      ? `http://127.0.0.1:9/000000000000/${name.toLowerCase()}`
      : name.endsWith('_SECRET_ID')
        ? `arn:aws:secretsmanager:us-east-1:000000000000:secret:${name.toLowerCase()}-AbCdEf`
        : name.toLowerCase().replaceAll('_', '-');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(fnEnv)) env[k] = typeof v === 'string' ? v : placeholder(k);
  return {
    PATH: process.env.PATH,
    ...env,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

describe('cdk synth through the CLI', () => {
  it('succeeded offline with no credentials and no Docker, cdk-nag on, with no findings', () => {
    expect(synth.code).toBe(0);
    expect(synth.stderr).not.toMatch(/docker/i);
    expect(synth.stderr).not.toMatch(/AwsSolutions-|Serverless-/);
  });
});

describe("the functions' assets", () => {
  it('are one per function, each built from its own entry (its factory named in its source map)', () => {
    expect(new Set(FUNCTIONS.map((fn) => bundles[fn].file)).size).toBe(FUNCTIONS.length);
    for (const fn of FUNCTIONS) {
      const dir = join(bundles[fn].file, '..');
      const maps = [
        join(dir, 'index.mjs.map'),
        ...readdirSync(join(dir, CHUNKS_DIR))
          .filter((f) => f.endsWith('.map'))
          .map((f) => join(dir, CHUNKS_DIR, f)),
      ];
      const names = new Set(maps.flatMap((m) => readFileSync(m, 'utf8').match(/create[A-Z][a-z]+Handler/g) ?? []));
      expect([...names], fn).toEqual([`create${fn[0]!.toUpperCase()}${fn.slice(1)}Handler`]);
    }
  });
});

describe.each(FUNCTIONS)('%s bundle', (fn) => {
  it('is minified ESM: its entry and chunks, each with the require banner and its source map, the AWS SDK bundled in', () => {
    const { file } = bundles[fn];
    expect(existsSync(file), file).toBe(true);
    const dir = join(file, '..');
    expect(readdirSync(dir).sort()).toEqual([CHUNKS_DIR, 'index.mjs', 'index.mjs.map']);
    const chunks = readdirSync(join(dir, CHUNKS_DIR));
    expect(chunks.filter((f) => !/\.mjs(\.map)?$/.test(f))).toEqual([]);
    const codeFiles = [file, ...chunks.filter((f) => f.endsWith('.mjs')).map((f) => join(dir, CHUNKS_DIR, f))];
    for (const f of codeFiles) {
      expect(existsSync(`${f}.map`), f).toBe(true);
      expect(readFileSync(f, 'utf8').startsWith(ESM_BANNER), f).toBe(true);
    }
    const code = codeFiles.map((f) => readFileSync(f, 'utf8')).join('\n');
    // Inlined, not imported from the runtime: every handler sends to a queue (the SQS client's schema
    // namespace, a string the minifier keeps, shows it is in).
    expect(code).not.toMatch(/(from|import\()"@aws-sdk\//);
    expect(code).toContain('com.amazonaws.sqs');
    expect(code).not.toMatch(/from"#(commons|events|powertools)\//);
    expect(codeFiles.reduce((n, f) => n + statSync(f).size, 0)).toBeLessThan(3 * 1024 * 1024);
  });

  it('imports in a fresh Node process with its template environment and exports a handler', async () => {
    const b = bundles[fn];
    const out = await run(process.execPath, [join(PROJECT_ROOT, 'test/infra/invoke-bundle.mjs'), b.file, fn, '10000'], {
      env: { ...localEnv(b.env), IMPORT_CHUNKS: '1' },
      input: '[]',
      timeoutMs: 30_000,
    });
    expect(out.code, out.stderr.slice(-3000)).toBe(0);
    expect(out.stdout).toContain(`${IMPORTED_MARK}function`);
    // node:http is required, not imported: its ES facade would load Node's internal undici at import.
    expect(out.stdout).toContain('@@node-undici@@ false');
    // Every chunk a later dynamic import loads resolves its own imports from where it is shipped.
    expect(Number(/@@chunks@@ (\d+)/.exec(out.stdout)?.[1])).toBe(
      readdirSync(join(b.file, '..', CHUNKS_DIR)).filter((f) => f.endsWith('.mjs')).length,
    );
  });
});
