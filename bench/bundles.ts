/**
 * Bundles each function as the construct does: its generated entry (the handler module's factory over
 * the sample catalog module, infra/construct/catalog-module.ts) with the construct's own esbuild
 * options (infra/construct/bundling.ts), and a second time for the CPU and memory rows (the same
 * build now that the construct bundles the AWS SDK too). Each build writes esbuild's
 * metafile; `analyze` says what dominates a bundle and flags code the function never runs.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, type Metafile } from 'esbuild';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

import { BUNDLING, ENTRY_FILE, ESM_BANNER, entryOutput, esbuildOptions, loadedAtStart } from '../infra/construct/bundling.ts';
import { BUNDLE_ALIASES, generatedEntry, loadCatalog, PACKAGE_ALIASES, resolveCatalogModule } from '../infra/construct/catalog-module.ts';

export { ESM_BANNER };

/** The deployed functions: entries generated as the construct generates them, over the sample catalog. */
const FUNCTION_ENTRIES = ['route', 'apply', 'webhook', 'reconcile'] as const;
export const SAMPLE_CATALOG_MODULE = 'events/catalog.ts';

/** The bench's own handlers, by file. */
export const ENTRIES = {
  hello: 'bench/handlers/hello.ts',
  'sdk-consumer': 'bench/peers/sdk-consumer.ts',
  'floor-undici': 'bench/handlers/floor-undici.ts',
  'floor-sqs': 'bench/handlers/floor-sqs.ts',
} as const;
/** Bundled for the cold-start and size rows; the floor handlers only serve the CPU table. */
export const MEASURED_ENTRIES: EntryName[] = ['route', 'apply', 'webhook', 'reconcile', 'hello', 'sdk-consumer'];
export type EntryName = (typeof FUNCTION_ENTRIES)[number] | keyof typeof ENTRIES;

/** The file esbuild starts from: for a function, the construct's generated entry (written under node_modules/.cache). */
export function entryFile(name: EntryName): string {
  if ((FUNCTION_ENTRIES as readonly string[]).includes(name)) {
    // As the construct writes it: with the event types the rule was made from.
    const m = resolveCatalogModule({ path: join(ROOT, SAMPLE_CATALOG_MODULE) });
    return generatedEntry(ROOT, name, m, loadCatalog(m));
  }
  return join(ROOT, ENTRIES[name as keyof typeof ENTRIES]);
}

/** The construct's esbuild build (bundling.ts) into `outdir`: the same options the construct passes to esbuild. */
export function constructOptions(variant: Variant, name: EntryName, outdir: string): BuildOptions {
  return esbuildOptions({
    entry: entryFile(name),
    outdir,
    workingDir: ROOT,
    external: variant === 'deploy' ? [...BUNDLING.externalModules] : [],
    // The functions' own aliases (node:http required); the bench's peers are built as a user would.
    alias: (FUNCTION_ENTRIES as readonly string[]).includes(name) ? BUNDLE_ALIASES : PACKAGE_ALIASES,
    overrides: { tsconfig: join(ROOT, 'tsconfig.json'), logLevel: 'error', metafile: true },
  });
}

/**
 * deploy: what the construct ships (the AWS SDK bundled in), written under the project's node_modules
 * so that a deployer's externals would resolve there as from the runtime in Lambda (the cold starts run these).
 * local: the same build with nothing external, for the CPU and memory rows.
 */
export type Variant = 'deploy' | 'local';

export interface BundleInfo {
  name: EntryName;
  variant: Variant;
  /** The entry file (the chunks sit beside it). */
  file: string;
  /** Code shipped: the entry and every chunk. */
  bytes: number;
  /** Code an import reads before the handler runs: the entry and the chunks it imports statically. */
  startBytes: number;
  mapBytes: number;
  /** Bytes in the output by package (or project folder), largest first. */
  byPackage: { name: string; bytes: number; share: number }[];
  /** Project modules in the bundle. */
  projectModules: string[];
  /** Code in the bundle the function never runs, with why. */
  neverRuns: { what: string; bytes: number; why: string }[];
}

/** Where deploy bundles go: under ROOT, so an external import resolves from ROOT/node_modules. */
export const DEPLOY_DIR = join(ROOT, 'node_modules', '.cache', 'nango-metadata-sync-bench');

export async function bundle(name: EntryName, variant: Variant, outDir: string): Promise<BundleInfo> {
  const dir = variant === 'deploy' ? join(DEPLOY_DIR, name) : join(outDir, variant, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const result = await build(constructOptions(variant, name, dir));
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(result.metafile));
  const code = Object.entries(result.metafile!.outputs).filter(([f]) => f.endsWith('.mjs'));
  return {
    name,
    variant,
    file: join(dir, ENTRY_FILE),
    bytes: code.reduce((n, [, o]) => n + o.bytes, 0),
    startBytes: loadedAtStart(result.metafile!, entryOutput(result.metafile!)).reduce((n, f) => n + result.metafile!.outputs[f]!.bytes, 0),
    mapBytes: Object.entries(result.metafile!.outputs)
      .filter(([f]) => f.endsWith('.map'))
      .reduce((n, [, o]) => n + o.bytes, 0),
    ...analyze(name, result.metafile!),
  };
}

/** The package a metafile input belongs to: `undici`, `@aws-sdk/client-sqs`, or a project folder. */
export function packageOf(input: string): string {
  const i = input.lastIndexOf('node_modules/');
  if (i >= 0) {
    const parts = input.slice(i + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const parts = input.split('/');
  return parts.length > 1 ? `(project) ${parts.slice(0, -1).join('/')}` : `(project) ${input}`;
}

/**
 * Areas of a dependency the functions never reach, by path. Each was checked against the code:
 * the Nango client uses undici's Agent and request only (no fetch, WebSocket, EventSource, mocks,
 * cache or proxy agents); zod's locales beyond English are never loaded by name.
 */
const NEVER_RUNS: { pkg: string; pattern: RegExp; why: string }[] = [
  { pkg: 'undici', pattern: /undici\/lib\/web\//, why: 'fetch/WebSocket/EventSource/cache: the client uses Agent.request only' },
  { pkg: 'undici', pattern: /undici\/lib\/mock\//, why: 'MockAgent: tests only' },
  { pkg: 'undici', pattern: /undici\/lib\/cache\//, why: 'HTTP cache stores: never configured' },
  { pkg: 'undici', pattern: /undici\/lib\/handler\/(cache|retry|redirect|decorator)/, why: 'interceptor handlers: never composed' },
  { pkg: 'undici', pattern: /undici\/lib\/interceptor\//, why: 'interceptors: never composed' },
  {
    pkg: 'undici',
    pattern: /undici\/lib\/dispatcher\/(proxy-agent|env-http-proxy-agent|retry-agent|balanced-pool|h2c-client|snapshot)/,
    why: 'proxy/retry/balanced dispatchers: never created',
  },
  { pkg: 'undici', pattern: /undici\/lib\/util\/(cache|date)/, why: 'HTTP cache helpers: never configured' },
  { pkg: 'undici', pattern: /undici\/lib\/dispatcher\/client-h2/, why: 'HTTP/2 client: allowH2 is off' },
  {
    pkg: 'undici',
    pattern: /undici\/lib\/llhttp\/llhttp-wasm/,
    why: 'non-SIMD llhttp WASM fallback: Node on x86_64 and arm64 compiles the SIMD copy',
  },
  { pkg: 'zod', pattern: /zod\/v4\/locales\/(?!en)/, why: 'non-English error locales' },
];

export function analyze(name: EntryName, meta: Metafile): Pick<BundleInfo, 'byPackage' | 'projectModules' | 'neverRuns'> {
  // Every code file of the bundle, entry and chunks alike: what a package weighs in what is shipped.
  const code = Object.entries(meta.outputs).filter(([f]) => f.endsWith('.mjs'));
  const out = { inputs: Object.assign({}, ...code.map(([, o]) => o.inputs)) as Metafile['outputs'][string]['inputs'] };
  const total = code.reduce((n, [, o]) => n + o.bytes, 0);
  const pkgs = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) {
    const p = packageOf(input);
    pkgs.set(p, (pkgs.get(p) ?? 0) + bytesInOutput);
  }
  const byPackage = [...pkgs.entries()].map(([n, bytes]) => ({ name: n, bytes, share: bytes / total })).sort((a, b) => b.bytes - a.bytes);
  const projectModules = Object.keys(out.inputs)
    .filter((i) => !i.includes('node_modules/'))
    .sort();

  const neverRuns: BundleInfo['neverRuns'] = [];
  for (const rule of NEVER_RUNS) {
    const bytes = Object.entries(out.inputs)
      .filter(([i]) => rule.pattern.test(i))
      .reduce((n, [, v]) => n + v.bytesInOutput, 0);
    if (bytes > 0) neverRuns.push({ what: `${rule.pkg}: ${rule.pattern.source.replace(/\\\//g, '/')}`, bytes, why: rule.why });
  }
  // Project code of the other stage.
  const otherStage =
    name === 'route'
      ? /functions\/commons\/apply\/processor|functions\/apply\.ts/
      : name === 'apply'
        ? /functions\/commons\/route\/|functions\/commons\/webhook\/|functions\/commons\/reconcile\//
        : undefined;
  if (otherStage) {
    const hits = Object.entries(out.inputs).filter(([i]) => otherStage.test(i));
    const bytes = hits.reduce((n, [, v]) => n + v.bytesInOutput, 0);
    if (bytes > 0)
      neverRuns.push({ what: hits.map(([i]) => i).join(', '), bytes, why: `the other stage's code, unreachable from ${name}` });
  }
  return { byPackage, projectModules, neverRuns };
}

export async function bundleAll(outDir: string): Promise<BundleInfo[]> {
  const out: BundleInfo[] = [];
  for (const variant of ['deploy', 'local'] as const) {
    for (const name of MEASURED_ENTRIES) out.push(await bundle(name, variant, outDir));
  }
  for (const name of ['floor-undici', 'floor-sqs'] as const) out.push(await bundle(name, 'local', outDir));
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outDir = process.argv[2] ?? join(ROOT, 'bench', 'results', 'bundles');
  const infos = await bundleAll(outDir);
  for (const b of infos) {
    console.log(`${b.variant.padEnd(6)} ${b.name.padEnd(13)} ${(b.bytes / 1024).toFixed(1).padStart(8)} KiB`);
    for (const p of b.byPackage.slice(0, 8))
      console.log(`    ${p.name.padEnd(48)} ${(p.bytes / 1024).toFixed(1).padStart(8)} KiB ${(p.share * 100).toFixed(1).padStart(5)}%`);
    for (const n of b.neverRuns) console.log(`    never runs: ${n.what} ${(n.bytes / 1024).toFixed(1)} KiB — ${n.why}`);
  }
}
