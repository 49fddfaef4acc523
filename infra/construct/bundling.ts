/**
 * The functions' esbuild options, in one place: the construct builds each function's asset from them
 * and the bench builds the same bundles (so this module imports nothing from aws-cdk-lib).
 */
import type { BuildOptions, Metafile } from 'esbuild';

/** ESM bundles need `require` for the CommonJS dependencies esbuild inlines (aliased to avoid clashes). */
export const ESM_BANNER =
  "import { createRequire as __nmsCreateRequire } from 'module'; const require = __nmsCreateRequire(import.meta.url);";

export const BUNDLING = {
  format: 'esm',
  /** ES module builds first: esbuild hoists them, and they carry less wrapper code than CommonJS builds. */
  mainFields: ['module', 'main'],
  banner: ESM_BANNER,
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  /**
   * Nothing left to the runtime: the AWS SDK clients are bundled (minified, tree-shaken from their ES
   * module builds), which starts faster than loading the runtime's unbundled copy and ships the SDK
   * version the tests ran. `RUNTIME_SDK` is the deployer's way back to the runtime's copy.
   */
  externalModules: [],
  target: 'node24',
  /**
   * undici's own switch for bundlers (its Node core build sets it): drops the experimental Milo parser,
   * two WASM copies (about 150 KiB) that are off by default, so the HTTP/1.1 client keeps llhttp.
   */
  define: { esbuildDetection: '1' },
} as const;

/** The Lambda runtime's AWS SDK v3 (`bundling: { bundleAwsSDK: false }` or these `externalModules`). */
export const RUNTIME_SDK = ['@aws-sdk/*'] as const;

/** The entry's file in a function's asset: Lambda's handler is `index.handler`. */
export const ENTRY_FILE = 'index.mjs';
/** Code the entry loads only by a dynamic import (the Nango client, the SDK's rarer credential providers). */
export const CHUNKS_DIR = 'chunks';

export interface BundleInputs {
  /** The generated entry (catalog-module.ts). */
  readonly entry: string;
  readonly outdir: string;
  /** Where packages resolve from: the consumer's project. */
  readonly workingDir: string;
  readonly external: readonly string[];
  readonly alias: Readonly<Record<string, string>>;
  /** Over the defaults above: a deployer's options, translated (functions.ts), or the bench's. */
  readonly overrides?: BuildOptions;
}

/**
 * One function's build. Code splitting (which needs `outdir`, not CDK's `--outfile`, hence our own
 * build rather than NodejsFunction's) puts what only a dynamic import reaches into chunks, so a cold
 * start neither reads nor parses it: route's Nango client and undici load on its first index miss.
 * Measured on route: import 162 -> 110 ms (median of 11 fresh Node 24 processes, side by side).
 */
export function esbuildOptions(b: BundleInputs): BuildOptions {
  const o = b.overrides ?? {};
  return {
    entryPoints: { index: b.entry },
    outdir: b.outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: `${CHUNKS_DIR}/[name]-[hash]`,
    bundle: true,
    splitting: true,
    platform: 'node',
    format: BUNDLING.format,
    target: BUNDLING.target,
    mainFields: [...BUNDLING.mainFields],
    minify: BUNDLING.minify,
    sourcemap: BUNDLING.sourceMap,
    sourcesContent: BUNDLING.sourcesContent,
    external: [...b.external],
    alias: { ...b.alias },
    absWorkingDir: b.workingDir,
    logLevel: 'warning',
    ...o,
    // Every output file is its own module scope, so each needs the banner's `require`.
    banner: { js: o.banner?.js ? `${BUNDLING.banner}\n${o.banner.js}` : BUNDLING.banner },
    define: { ...BUNDLING.define, ...o.define },
  };
}

/** The entry's output in a metafile (a dynamic import's chunk has an `entryPoint` too). */
export function entryOutput(meta: Metafile): string {
  const entry = Object.keys(meta.outputs).find((f) => f === ENTRY_FILE || f.endsWith(`/${ENTRY_FILE}`));
  if (!entry) throw new Error(`no ${ENTRY_FILE} among the build's outputs`);
  return entry;
}

/** The output files an import of `entry` reads: it and its static imports, transitively (chunks behind a dynamic import wait). */
export function loadedAtStart(meta: Metafile, entry: string): string[] {
  const seen = new Set<string>([entry]);
  for (const f of seen) {
    for (const i of meta.outputs[f]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) seen.add(i.path);
  }
  return [...seen];
}
