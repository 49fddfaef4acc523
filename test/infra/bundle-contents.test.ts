/**
 * What goes into each function's bundle, from esbuild's metafile with the construct's options
 * (bundling.ts) over the construct's generated entries (the runtime's factory over the sample
 * catalog): the webhook carries neither the Nango client nor undici, no bundle carries two copies
 * of Powertools commons, the AWS SDK is bundled unless the deployer leaves it to the runtime, and
 * what only a dynamic import reaches waits in a chunk.
 */
import { join } from 'node:path';
import { type BuildOptions, build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import type { FunctionName } from '../../functions/commons/config.ts';
import { BUNDLING, entryOutput, esbuildOptions, loadedAtStart, RUNTIME_SDK } from '../../infra/construct/bundling.ts';
import {
  BUNDLE_ALIASES,
  generatedEntry,
  LAZY_BUILTINS,
  loadCatalog,
  PACKAGE_ALIASES,
  resolveCatalogModule,
} from '../../infra/construct/catalog-module.ts';
import { externalsOf } from '../../infra/construct/function-code.ts';
import { PROJECT_ROOT } from '../../infra/construct/index.ts';
import { FUNCTIONS, SAMPLE_CATALOG } from './helpers.ts';

const sampleModule = resolveCatalogModule(SAMPLE_CATALOG);
const entryPath = (fn: FunctionName) => generatedEntry(PROJECT_ROOT, fn, sampleModule, loadCatalog(sampleModule));

/** The construct's build of `entry`, in memory: its metafile, and its code (entry and chunks) as one text. */
async function bundleOf(
  entry: string,
  external: readonly string[] = BUNDLING.externalModules,
  alias = BUNDLE_ALIASES,
  more: BuildOptions = {},
) {
  const outdir = join(PROJECT_ROOT, 'node_modules', '.cache', 'nms-bundle-contents');
  const out = await build({
    ...esbuildOptions({ entry, outdir, workingDir: PROJECT_ROOT, external, alias, overrides: { logLevel: 'silent', ...more } }),
    write: false,
    metafile: true,
  });
  const text = out.outputFiles
    .filter((f) => f.path.endsWith('.mjs'))
    .map((f) => f.text)
    .join('\n');
  return { metafile: out.metafile, text };
}

const inputsOf = async (entry: string): Promise<string[]> => Object.keys((await bundleOf(entry)).metafile.inputs);

/** The node_modules package directories an input list draws from (nested copies kept apart). */
const copiesOf = (inputs: readonly string[], pkg: string) =>
  new Set(inputs.filter((i) => i.includes(`node_modules/${pkg}/`)).map((i) => i.slice(0, i.lastIndexOf(`node_modules/${pkg}/`))));

describe('bundle contents', () => {
  it('the webhook bundles neither the Nango client nor undici (it never calls Nango)', async () => {
    const inputs = await inputsOf(entryPath('webhook'));
    expect(inputs.filter((i) => /node_modules\/undici\//.test(i))).toEqual([]);
    expect(inputs.filter((i) => /functions\/commons\/nango\/(http-client|rate-limit|list)\.ts$/.test(i))).toEqual([]);
    // ... while the functions that do call Nango still have both (the check can fail).
    const apply = await inputsOf(entryPath('apply'));
    expect(apply.some((i) => /node_modules\/undici\//.test(i))).toBe(true);
    expect(apply.some((i) => /functions\/commons\/nango\/http-client\.ts$/.test(i))).toBe(true);
  });

  it.each(FUNCTIONS)('%s bundles one copy of Powertools commons', async (fn) => {
    const copies = copiesOf(await inputsOf(entryPath(fn)), '@aws-lambda-powertools/commons');
    // One package directory (a nested copy would add its parent's path).
    expect([...copies]).toHaveLength(1);
  });

  it.each(FUNCTIONS)("%s leaves out undici's Milo parser (off by default; its bundler switch is set)", async (fn) => {
    const inputs = await inputsOf(entryPath(fn));
    expect(inputs.filter((i) => /node_modules\/undici\/lib\/(milo\/|dispatcher\/parser-h1)/.test(i))).toEqual([]);
  });

  it.each(FUNCTIONS)('%s bundles the AWS SDK clients it uses: no import is left to the runtime', async (fn) => {
    const out = await bundleOf(entryPath(fn));
    const inputs = Object.keys(out.metafile.inputs);
    // Every handler sends to a queue: the SQS client (and the SDK core under it) is in the bundle.
    expect(inputs.some((i) => /node_modules\/@aws-sdk\/client-sqs\/dist-es\//.test(i))).toBe(true);
    expect(inputs.some((i) => /node_modules\/@smithy\/core\/dist-es\//.test(i))).toBe(true);
    // ES module builds only (mainFields, the `module` condition): no CommonJS copy of an SDK package.
    expect(inputs.filter((i) => /node_modules\/@(aws-sdk|smithy)\/[^/]+\/dist-cjs\//.test(i))).toEqual([]);
    expect(out.text).not.toMatch(/(from\s*|import\(\s*)"@aws-sdk\//);
  });

  it.each(FUNCTIONS)("%s requires node:http rather than importing it (its ES facade would load Node's undici)", async (fn) => {
    const esImport = /(from\s*|import\s*)"(node:)?http"/;
    expect((await bundleOf(entryPath(fn))).text).not.toMatch(esImport);
    // Without the alias the SDK's HTTP handler imports it (the check can fail).
    if (fn === 'apply') expect((await bundleOf(entryPath(fn), undefined, PACKAGE_ALIASES)).text).toMatch(esImport);
  });

  it.each(FUNCTIONS)('%s imports none of the builtins it only needs later (each is required where first used)', async (fn) => {
    const imported = (text: string) => LAZY_BUILTINS.filter((b) => new RegExp(`(from\\s*|import\\s*)"(node:)?${b}"`).test(text));
    expect(imported((await bundleOf(entryPath(fn))).text)).toEqual([]);
    // Without the aliases the SDK's credential providers import node:child_process (the check can fail).
    expect(imported((await bundleOf(entryPath(fn), undefined, PACKAGE_ALIASES)).text)).toContain('child_process');
  });

  it("the construct's externals: none by default, the runtime's SDK on `bundleAwsSDK: false`, a deployer's list as given", () => {
    expect(externalsOf({})).toEqual([]);
    expect(externalsOf({ bundleAwsSDK: true })).toEqual([]);
    expect(externalsOf({ bundleAwsSDK: false })).toEqual(['@aws-sdk/*']);
    expect(externalsOf({ bundleAwsSDK: false, externalModules: ['@aws-sdk/client-sqs'] })).toEqual(['@aws-sdk/client-sqs']);
  });

  it("the runtime's SDK on request: RUNTIME_SDK (`bundleAwsSDK: false`) leaves every @aws-sdk import external", async () => {
    const out = await bundleOf(entryPath('apply'), RUNTIME_SDK);
    expect(Object.keys(out.metafile.inputs).filter((i) => i.includes('node_modules/@aws-sdk/'))).toEqual([]);
    expect(out.text).toMatch(/from\s*"@aws-sdk\/client-sqs"/);
  });

  /** The inputs of the files a cold start reads (the entry and its static imports), and of the rest. */
  async function split(fn: FunctionName, more?: BuildOptions) {
    const { metafile } = await bundleOf(entryPath(fn), undefined, undefined, more);
    const start = new Set(loadedAtStart(metafile, entryOutput(metafile)));
    const inputsIn = (files: string[]) => files.flatMap((f) => Object.keys(metafile.outputs[f]!.inputs));
    const code = Object.keys(metafile.outputs).filter((f) => f.endsWith('.mjs'));
    return { atStart: inputsIn(code.filter((f) => start.has(f))), later: inputsIn(code.filter((f) => !start.has(f))) };
  }
  const nangoClient = /node_modules\/undici\/|functions\/commons\/nango\/http-client\.ts$|node_modules\/@aws-sdk\/client-secrets-manager\//;

  it('route reads neither undici, the Nango client nor the Secrets Manager client at its start: they wait in chunks for its first index miss', async () => {
    const { atStart, later } = await split('route');
    expect(atStart.filter((i) => nangoClient.test(i))).toEqual([]);
    expect(later.filter((i) => /node_modules\/undici\//.test(i)).length).toBeGreaterThan(0);
    expect(later.some((i) => /functions\/commons\/nango\/http-client\.ts$/.test(i))).toBe(true);
    expect(later.some((i) => i.includes('node_modules/@aws-sdk/client-secrets-manager/'))).toBe(true);
    // One file, as CDK's NodejsFunction writes it, reads them all at the start (the check can fail).
    expect((await split('route', { splitting: false })).atStart.filter((i) => nangoClient.test(i)).length).toBeGreaterThan(0);
  });

  it('the webhook reads its signing key through Powertools Parameters: the Secrets Manager client is read at its start', async () => {
    const { atStart } = await split('webhook');
    expect(atStart.some((i) => i.includes('node_modules/@aws-sdk/client-secrets-manager/'))).toBe(true);
  });

  it("with the runtime's SDK: route imports the Secrets Manager client dynamically, the webhook statically", async () => {
    const code = async (fn: FunctionName) => (await bundleOf(entryPath(fn), RUNTIME_SDK)).text;
    const staticImport = /from\s*"@aws-sdk\/client-secrets-manager"/;
    const route = await code('route');
    expect(route).not.toMatch(staticImport);
    expect(route).toMatch(/import\(\s*"@aws-sdk\/client-secrets-manager"\s*\)/);
    expect(await code('webhook')).toMatch(staticImport);
  });
});
