/**
 * The package as a user gets it: `npm pack`, the tarball unpacked into a fresh CDK app outside the
 * repository (test/infra/consumer/app: its own catalog, stack, events and connections), then what a user
 * runs there: `tsc --noEmit`, `cdk synth` with cdk-nag, and `nango-metadata-sync start`.
 *
 * Offline and without a registry: the app's other dependencies are links to this checkout's
 * node_modules (what `npm install` would put there), the package itself is the unpacked tarball.
 */
import { type SpawnOptions, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog as samples } from '../../../events/catalog.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const APP_SOURCE = fileURLToPath(new URL('./app', import.meta.url));
const CONSUMER_TYPES = ['acme.shop order.shipped', 'acme.shop store.renamed'];
const FUNCTIONS = ['Route', 'Apply', 'Webhook', 'Reconcile'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(cmd: string, args: string[], o: SpawnOptions & { timeoutMs?: number } = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { ...o, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 300_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** No AWS: credentials removed, CDK's state kept in the app. */
function appEnv(app: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|npm_|CDK_)/.test(k)) env[k] = v;
  return {
    ...env,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    CDK_HOME: join(app, '.cdk-home'),
    CDK_DISABLE_VERSION_CHECK: '1',
    CDK_DISABLE_CLI_TELEMETRY: '1',
  };
}

let work: string;
let app: string;
let pkg: string;
let tarball: { size: number; files: number; name: string };
let synth: Run;
let template: any;
let assetDirs: Record<string, string>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'nms-consumer-'));
  // 1. The tarball: the build prepack runs, then the pack itself (its JSON alone on stdout).
  const build = await run('npm', ['run', 'build'], { cwd: ROOT, timeoutMs: 600_000 });
  if (build.code !== 0) throw new Error(`npm run build failed:\n${(build.stdout + build.stderr).slice(-3000)}`);
  const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT });
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stderr.slice(-3000)}`);
  const info = JSON.parse(pack.stdout) as { filename: string; size: number; files: unknown[] }[];
  tarball = { name: info[0]!.filename, size: info[0]!.size, files: info[0]!.files.length };

  // 2. The app: its sources, the repository's node_modules as its installed dependencies, the package unpacked.
  app = join(work, 'app');
  cpSync(APP_SOURCE, app, { recursive: true });
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'shop-sync', private: true, type: 'module', dependencies: { 'nango-metadata-sync': `file:${tarball.name}` } }),
  );
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'shop-sync', lockfileVersion: 3, requires: true, packages: {} }));
  const modules = join(app, 'node_modules');
  mkdirSync(join(modules, '.bin'), { recursive: true });
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name.startsWith('.') || name === 'nango-metadata-sync') continue;
    symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  }
  pkg = join(modules, 'nango-metadata-sync');
  mkdirSync(pkg);
  const untar = await run('tar', ['-xzf', join(work, tarball.name), '-C', pkg, '--strip-components=1']);
  if (untar.code !== 0) throw new Error(`tar failed: ${untar.stderr}`);
  const bins: Record<string, string> = {
    'nango-metadata-sync': '../nango-metadata-sync/dist/cli/main.js',
    cdk: '../aws-cdk/bin/cdk',
    tsc: '../typescript/bin/tsc',
    tsx: '../tsx/dist/cli.mjs',
  };
  for (const [bin, target] of Object.entries(bins)) symlinkSync(target, join(modules, '.bin', bin));

  // 3. Synth as a user does.
  synth = await run('npx', ['cdk', 'synth', '--quiet', '--output', 'cdk.out'], { cwd: app, env: appEnv(app), timeoutMs: 600_000 });
  if (synth.code !== 0) throw new Error(`cdk synth failed (${synth.code}):\n${synth.stderr.slice(-4000)}`);
  template = JSON.parse(readFileSync(join(app, 'cdk.out', 'ShopSync.template.json'), 'utf8'));
  assetDirs = {};
  for (const fn of FUNCTIONS) {
    const [, r] = Object.entries(template.Resources).find(
      ([id, r]: [string, any]) => r.Type === 'AWS::Lambda::Function' && new RegExp(`^NangoSync${fn}[0-9A-F]{8}$`).test(id),
    ) as [string, any];
    assetDirs[fn] = join(app, 'cdk.out', `asset.${String(r.Properties.Code.S3Key).replace(/\.zip$/, '')}`);
  }
  console.info(
    `consumer: tarball ${tarball.name} ${(tarball.size / 1024).toFixed(1)} kB, ${tarball.files} files; cdk synth ${(synth.ms / 1000).toFixed(1)} s`,
  );
}, 1_200_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the package as a user installs it', () => {
  it('ships compiled JavaScript and declarations, no tests, bench or TypeScript sources', () => {
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
    expect(manifest.private).toBeUndefined();
    expect(Object.keys(manifest.peerDependencies).sort()).toEqual(['aws-cdk-lib', 'constructs']);
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) (e.isDirectory() ? walk : (f: string) => files.push(f))(join(d, e.name));
    };
    walk(pkg);
    const rel = files.map((f) => f.slice(pkg.length + 1));
    expect(rel.filter((f) => /^(test|bench)\//.test(f) || /\.test\./.test(f))).toEqual([]);
    expect(rel.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(rel).toContain('dist/infra/index.d.ts');
    expect(rel).toContain('dist/functions/commons/runtime.js');
  });

  it("type-checks the user's app and catalog against the package's declarations", async () => {
    const tsc = await run('npx', ['tsc', '--noEmit', '-p', '.'], { cwd: app, env: appEnv(app) });
    expect(tsc.code, tsc.stdout + tsc.stderr).toBe(0);
  }, 300_000);
});

describe("cdk synth of the user's stack (cdk-nag on)", () => {
  it('succeeds with no finding', () => {
    expect(synth.stderr).not.toMatch(/AwsSolutions-|Serverless-/);
  });

  it("the rule matches exactly the user's event types", () => {
    const rules = Object.values(template.Resources).filter((r: any) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern);
    const patterns = rules.map((r: any) => r.Properties.EventPattern);
    const pairs = patterns.flatMap((p: any) =>
      ('$or' in p ? p.$or : [p]).flatMap((b: any) => b.source.flatMap((s: string) => b['detail-type'].map((t: string) => `${s} ${t}`))),
    );
    expect(pairs.sort()).toEqual(CONSUMER_TYPES);
  });

  it.each(FUNCTIONS)("the %s bundle holds the user's detail-types and none of the samples', and no CDK", (fn) => {
    // The entry and its chunks: the catalog may sit in a chunk the entry imports.
    const dir = assetDirs[fn]!;
    const files = [join(dir, 'index.mjs'), ...readdirSync(join(dir, 'chunks')).map((f) => join(dir, 'chunks', f))];
    const code = files
      .filter((f) => f.endsWith('.mjs'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    for (const t of ['order.shipped', 'store.renamed']) expect(code).toContain(t);
    for (const s of samples) expect(code).not.toContain(s.detailType);
    expect(code).not.toMatch(/aws-cdk-lib|constructs\/lib/);
  });

  it("nothing points into the package's own tree: the bundles come from the user's project", () => {
    const repoSources = realpathSync(ROOT);
    const repoModules = join(repoSources, 'node_modules') + sep;
    const outFiles: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else outFiles.push(p);
      }
    };
    walk(join(app, 'cdk.out'));
    for (const f of outFiles) {
      const text = readFileSync(f, 'utf8');
      // No absolute path into this checkout (template, manifest, bundles), but for its installed dependencies.
      const intoSources = text
        .split(repoSources)
        .slice(1)
        .filter((rest) => !rest.startsWith(`${sep}node_modules${sep}`));
      expect(
        intoSources.map((rest) => repoSources + rest.slice(0, 60)),
        f,
      ).toEqual([]);
      if (f.endsWith('.map')) {
        // Every source of a bundle is the user's, the installed package's, or an installed dependency's.
        const dir = join(f, '..');
        for (const s of JSON.parse(text).sources as string[]) {
          const abs = resolve(dir, s);
          const inside = abs.startsWith(app + sep) || abs.startsWith(repoModules);
          expect(inside, `${s} (${abs})`).toBe(true);
          expect(abs.startsWith(repoSources) && !abs.startsWith(repoModules), abs).toBe(false);
        }
      }
    }
  });
});

describe("`nango-metadata-sync start` on the user's catalog and events", () => {
  let report: any;

  beforeAll(async () => {
    const r = await run(
      'npx',
      ['nango-metadata-sync', 'start', '--catalog', 'src/catalog.ts', '--connections', 'connections.json', '--json', 'events/'],
      { cwd: app, env: appEnv(app), timeoutMs: 180_000 },
    );
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    report = JSON.parse(r.stdout);
  }, 240_000);

  it("the user's events reach the stand-in's connections as PATCHes", () => {
    const meta = Object.fromEntries(report.connections.map((c: any) => [`${c.providerConfigKey}/${c.connectionId}`, c.metadata]));
    expect(meta['salesforce/5a0c4b1e-1111-4000-8000-000000000001']).toEqual({ lastShippedOrder: 'SO-1001' });
    expect(meta['hubspot/5a0c4b1e-1111-4000-8000-000000000002']).toEqual({ kept: true, lastShippedOrder: 'SO-1001' });
    expect(meta['hubspot/5a0c4b1e-1111-4000-8000-000000000003']).toBeNull();
    expect(meta['shopify/store-42']).toEqual({ storeName: 'Acme Outlet' });
    expect(report.summary.nango.patches).toBeGreaterThanOrEqual(3);
  });

  it('a sample event type, unknown to this catalog, goes to the DLQ', () => {
    const sample = report.events.find((e: any) => e.detailType === 'customer.plan_changed');
    expect(sample.outcome).toBe('dlq');
    expect(sample.error.code).toBe('unknown_event_type');
    expect(
      report.events
        .filter((e: any) => e.outcome === 'state')
        .map((e: any) => e.detailType)
        .sort(),
    ).toEqual(['order.shipped', 'store.renamed']);
  });
});
