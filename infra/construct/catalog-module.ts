/**
 * The user's catalog module, as the construct and the tools use it. One esbuild graph serves both:
 * at synth the module is bundled and evaluated to derive the rule, and each function is bundled from
 * a generated entry that imports the same module, so the rule and the bundles cannot disagree.
 *
 * Loading through esbuild (not `import()`) keeps synth synchronous and independent of how the CDK
 * app runs: tsx, ts-node, or compiled JavaScript all give the same result, and a TypeScript catalog
 * needs no loader of its own.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Catalog, eventTypesOf } from '#events/define';

/** Where the catalog is: a module and the name of its export holding the array of `defineEvent` results. */
export interface CatalogModule {
  /** The module's file (TypeScript or JavaScript): absolute, or relative to the current directory (where `cdk` runs). */
  readonly path: string;
  /** @default 'catalog' */
  readonly exportName?: string;
}

export interface ResolvedCatalogModule {
  readonly path: string;
  readonly exportName: string;
}

/** `.ts` when running from this repository's sources, `.js` in the package: siblings are found the same way. */
const EXT = path.extname(fileURLToPath(import.meta.url));
const sibling = (rel: string) => fileURLToPath(new URL(`${rel}${EXT}`, import.meta.url));

/** The handler factories (the runtime re-exports each). */
export const RUNTIME_MODULE = sibling('../../functions/commons/runtime');
/**
 * The module of function `fn`'s factory, which its generated entry imports: not the runtime, whose
 * other factories esbuild keeps (their modules have side effects), so the webhook would carry the
 * Nango client and undici it never calls.
 */
export const handlerModule = (fn: string): string => sibling(`../../functions/commons/handlers/${fn}`);
/** `defineEvent` and the catalog types, without the construct (so without aws-cdk-lib). */
export const CATALOG_API_MODULE = sibling('../../events/define');

/**
 * A catalog module may import `defineEvent` from the package root or from `nango-metadata-sync/catalog`;
 * in a bundle both are the catalog API alone, or the root would drag the construct and aws-cdk-lib in.
 */
export const PACKAGE_ALIASES: Readonly<Record<string, string>> = {
  'nango-metadata-sync': CATALOG_API_MODULE,
  'nango-metadata-sync/catalog': CATALOG_API_MODULE,
};

/**
 * Builtins the functions' bundles require where they are first used rather than import at load
 * (see builtins/README.md): an ES import of a builtin is hoisted to the bundle's top, so the AWS
 * SDK's credential providers alone would load `node:child_process` at every cold start. Not `fs`,
 * `path`, `stream`, `util` or `crypto`: Node has them loaded before the bundle, or the bundle uses them
 * at import, and an alias would also catch their subpaths (`node:stream/web`).
 */
export const LAZY_BUILTINS = ['http', 'https', 'http2', 'zlib', 'child_process', 'fs/promises', 'os', 'process', 'console'] as const;
const builtinFile = (name: string) =>
  fileURLToPath(new URL(`./builtins/${name.replace('/', '-')}${EXT === '.ts' ? '.cts' : '.cjs'}`, import.meta.url));
export const BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  ...PACKAGE_ALIASES,
  ...Object.fromEntries(LAZY_BUILTINS.flatMap((name) => [name, `node:${name}`].map((spec) => [spec, builtinFile(name)]))),
};

export const resolveCatalogModule = (m: CatalogModule): ResolvedCatalogModule => ({
  path: path.resolve(m.path),
  exportName: m.exportName ?? 'catalog',
});

type Esbuild = typeof import('esbuild');
const requireHere = createRequire(import.meta.url);
const esbuild = (): Esbuild => requireHere('esbuild') as Esbuild;

/** One load per module and process: an app with several stacks over one catalog bundles it once. */
const loaded = new Map<string, Catalog>();

/** Bundles the module (its imports included) and evaluates it; returns its catalog export, checked for shape. */
export function loadCatalog(m: ResolvedCatalogModule): Catalog {
  const key = `${m.path}\u0000${m.exportName}`;
  const hit = loaded.get(key);
  if (hit) return hit;
  if (!existsSync(m.path)) throw new Error(`catalog module ${m.path} does not exist`);
  let code: string;
  try {
    const out = esbuild().buildSync({
      entryPoints: [m.path],
      bundle: true,
      write: false,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      alias: { ...PACKAGE_ALIASES },
      logLevel: 'silent',
    });
    code = out.outputFiles[0]!.text;
  } catch (e) {
    throw new Error(`catalog module ${m.path} could not be bundled: ${(e as Error).message}`);
  }
  // A CommonJS module evaluated in place: `require` of node builtins works, everything else is bundled.
  const mod = new Module(m.path) as Module & { _compile(code: string, file: string): void; paths: string[] };
  mod.filename = m.path;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(path.dirname(m.path));
  try {
    mod._compile(code, m.path);
  } catch (e) {
    throw new Error(`catalog module ${m.path} failed to load: ${(e as Error).message}`);
  }
  const catalog = checkCatalog((mod.exports as Record<string, unknown>)[m.exportName], m);
  loaded.set(key, catalog);
  return catalog;
}

/** The export must be what `defineEvent` returns, in an array: anything else would fail only in Lambda. */
export function checkCatalog(value: unknown, m: ResolvedCatalogModule): Catalog {
  const where = `${m.path} export "${m.exportName}"`;
  if (!Array.isArray(value)) throw new Error(`catalog: ${where} must be an array of defineEvent(...) results (got ${typeof value})`);
  value.forEach((e, i) => {
    const d = e as Record<string, unknown> | null;
    if (
      !d ||
      typeof d.source !== 'string' ||
      typeof d.detailType !== 'string' ||
      typeof d.patch !== 'function' ||
      typeof (d.detail as { safeParse?: unknown } | undefined)?.safeParse !== 'function' ||
      typeof d.subject !== 'object'
    ) {
      throw new Error(`catalog: ${where}[${i}] is not an event definition (use defineEvent)`);
    }
  });
  return value as Catalog;
}

/** The nearest lock file above the catalog module: the consumer's project, whose node_modules the bundles use. */
export function findLockFile(from: string): string | undefined {
  for (let dir = path.dirname(from); ; dir = path.dirname(dir)) {
    for (const name of ['package-lock.json', 'pnpm-lock.yaml', 'yarn.lock', 'bun.lockb', 'bun.lock']) {
      const file = path.join(dir, name);
      if (existsSync(file)) return file;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

export const factoryName = (fn: string): string => `create${fn[0]!.toUpperCase()}${fn.slice(1)}Handler`;

/**
 * Writes the entry of function `fn`: the runtime's factory over the catalog module, under the
 * project root, in its node_modules/.cache (named by its
 * content: the same entry for the same inputs, and the asset hash follows the bundle's output anyway).
 */
export function generatedEntry(projectRoot: string, fn: string, m: ResolvedCatalogModule, atSynth?: Catalog): string {
  const factory = factoryName(fn);
  const catalog = `catalogModule[${JSON.stringify(m.exportName)}]`;
  const source = [
    '// Generated by nango-metadata-sync at synth: this function over your catalog module.',
    `import { ${factory} } from ${JSON.stringify(handlerModule(fn))};`,
    `import * as catalogModule from ${JSON.stringify(m.path)};`,
    // The event types the rule was derived from: the function refuses to start over any others.
    ...(atSynth
      ? [
          `import { assertEventTypes } from ${JSON.stringify(CATALOG_API_MODULE)};`,
          `assertEventTypes(${catalog}, ${JSON.stringify(eventTypesOf(atSynth))});`,
        ]
      : []),
    `export const handler = ${factory}({ catalog: ${catalog} });`,
    '',
  ].join('\n');
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = path.join(projectRoot, 'node_modules', '.cache', 'nango-metadata-sync', digest);
  const file = path.join(dir, `${fn}.mjs`);
  if (!existsSync(file) || readFileSync(file, 'utf8') !== source) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, source);
  }
  return file;
}
