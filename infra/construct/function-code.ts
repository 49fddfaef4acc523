/**
 * A function's code asset: its generated entry bundled by esbuild, locally, with code splitting
 * (bundling.ts says why). The deployer's `bundling` prop keeps NodejsFunction's option names; the
 * esbuild ones are translated here, and those that need CDK's own bundling (Docker, install steps,
 * command hooks) are refused at synth with the list of what is supported.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { AssetHashType, type ILocalBundling } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';
import { BUNDLING, esbuildOptions, RUNTIME_SDK } from './bundling.ts';
import { BUNDLE_ALIASES } from './catalog-module.ts';

/** The `bundling` options the construct honours: esbuild's own, by NodejsFunction's names. */
export const SUPPORTED_BUNDLING = [
  'minify',
  'sourceMap',
  'sourceMapMode',
  'sourcesContent',
  'target',
  'loader',
  'logLevel',
  'keepNames',
  'tsconfig',
  'metafile',
  'banner',
  'footer',
  'charset',
  'define',
  'mainFields',
  'inject',
  'externalModules',
  'bundleAwsSDK',
  'assetHash',
  'format',
] as const satisfies readonly (keyof BundlingOptions)[];

/** Why an option is refused, or undefined: for the construct's prop checks. */
export function bundlingProblem(b: BundlingOptions): string | undefined {
  // `forceDockerBundling: false` only says what is true anyway: bundling is local.
  const unsupported = Object.keys(b).filter(
    (k) =>
      (b as Record<string, unknown>)[k] !== undefined &&
      !(SUPPORTED_BUNDLING as readonly string[]).includes(k) &&
      !(k === 'forceDockerBundling' && b.forceDockerBundling === false),
  );
  if (unsupported.length > 0) {
    return (
      `bundling: ${unsupported.join(', ')} not supported. The functions are bundled locally with esbuild's API ` +
      `(code splitting keeps code a cold start never runs out of its import), not by NodejsFunction; supported: ${SUPPORTED_BUNDLING.join(', ')}`
    );
  }
  // Ours comes first in every output file: a second `require` would fail each function at import.
  if (b.banner !== undefined && /\b(const|let|var|function)\s+require\b/.test(b.banner)) {
    return `bundling.banner must not declare require: the construct's banner, which comes first in every file, already does (${BUNDLING.banner})`;
  }
  if (b.sourceMap === false && b.sourceMapMode !== undefined)
    return 'bundling.sourceMapMode needs source maps: it is set while sourceMap is false';
  if (b.format !== undefined && b.format !== 'esm') return `bundling.format must be "esm" (got "${b.format}"): the bundles are ES modules`;
  return undefined;
}

/**
 * The AWS SDK is bundled unless the deployer asks for the runtime's copy: `externalModules` as given,
 * else `bundleAwsSDK: false` leaves `@aws-sdk/*` to the runtime.
 */
export const externalsOf = (b: BundlingOptions): readonly string[] =>
  b.externalModules ?? (b.bundleAwsSDK === false ? RUNTIME_SDK : BUNDLING.externalModules);

const SOURCE_MAP: Record<SourceMapMode, BuildOptions['sourcemap']> = {
  [SourceMapMode.DEFAULT]: 'linked',
  [SourceMapMode.EXTERNAL]: 'external',
  [SourceMapMode.INLINE]: 'inline',
  [SourceMapMode.BOTH]: 'both',
};

/** NodejsFunction's names to esbuild's, for the options a deployer set. */
export function esbuildOverrides(b: BundlingOptions): BuildOptions {
  const o: BuildOptions = {
    minify: b.minify,
    sourcemap:
      b.sourceMap === false ? false : b.sourceMap || b.sourceMapMode ? SOURCE_MAP[b.sourceMapMode ?? SourceMapMode.DEFAULT] : undefined,
    sourcesContent: b.sourcesContent,
    target: b.target,
    loader: b.loader as BuildOptions['loader'],
    logLevel: b.logLevel as BuildOptions['logLevel'],
    keepNames: b.keepNames,
    // As NodejsFunction took it: relative to where `cdk` runs (esbuild would take it from the project root).
    tsconfig: b.tsconfig === undefined ? undefined : resolve(b.tsconfig),
    banner: b.banner ? { js: b.banner } : undefined,
    footer: b.footer ? { js: b.footer } : undefined,
    charset: b.charset as BuildOptions['charset'],
    define: b.define,
    mainFields: b.mainFields,
    inject: b.inject,
    metafile: b.metafile,
  };
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as BuildOptions;
}

type Esbuild = typeof import('esbuild');
const esbuild = (): Esbuild => createRequire(import.meta.url)('esbuild') as Esbuild;

/**
 * Local bundling as data. CDK keys its staging cache, and a custom asset hash, on the JSON of the
 * bundling options, which drops functions: without these fields every function of a stack would get
 * the first one's asset. They hold no absolute path, so a custom hash does not vary by checkout.
 */
class EsbuildBundling implements ILocalBundling {
  readonly #options: BuildOptions;
  constructor(
    /** The generated entry, relative to the project root (named by its content). */
    readonly entry: string,
    /** The deployer's options and the externals they give. */
    readonly bundling: BundlingOptions,
    readonly external: readonly string[],
    options: BuildOptions,
  ) {
    this.#options = options;
  }
  tryBundle(outdir: string): boolean {
    let result: ReturnType<Esbuild['buildSync']>;
    try {
      result = esbuild().buildSync({ ...this.#options, outdir });
    } catch (e) {
      throw new Error(`bundling ${this.entry} failed: ${(e as Error).message}`);
    }
    if (this.#options.metafile) writeFileSync(join(outdir, 'index.meta.json'), JSON.stringify(result.metafile));
    return true;
  }
}

/**
 * The asset: bundled when CDK stages it (so `aws:cdk:bundling-stacks` still skips it), hashed by its
 * output. Local bundling always succeeds or throws: esbuild is this package's dependency, so
 * Docker (the image CDK requires to be named) is never used.
 */
export function functionCode(entry: string, projectRoot: string, b: BundlingOptions): lambda.Code {
  const external = externalsOf(b);
  const options = esbuildOptions({
    entry,
    outdir: '',
    workingDir: projectRoot,
    external,
    alias: BUNDLE_ALIASES,
    overrides: esbuildOverrides(b),
  });
  return lambda.Code.fromAsset(projectRoot, {
    assetHash: b.assetHash,
    assetHashType: b.assetHash ? AssetHashType.CUSTOM : AssetHashType.OUTPUT,
    bundling: {
      image: lambda.Runtime.NODEJS_24_X.bundlingImage,
      local: new EsbuildBundling(relative(projectRoot, entry), b, external, options),
    },
  });
}
