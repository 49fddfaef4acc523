/**
 * What goes into each function's bundle, from esbuild's metafile with the construct's options
 * (bundling.ts) over the construct's generated entries (the runtime's factory over the sample
 * catalog): the webhook carries neither the Nango client nor undici, no bundle carries two copies
 * of Powertools commons, and the AWS SDK is bundled unless the deployer leaves it to the runtime.
 */
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import type { FunctionName } from '../../functions/commons/config.ts';
import { BUNDLING, RUNTIME_SDK } from '../../infra/construct/bundling.ts';
import {
  BUNDLE_ALIASES,
  generatedEntry,
  LAZY_BUILTINS,
  PACKAGE_ALIASES,
  resolveCatalogModule,
} from '../../infra/construct/catalog-module.ts';
import { externalsOf } from '../../infra/construct/functions.ts';
import { PROJECT_ROOT } from '../../infra/construct/index.ts';
import { FUNCTIONS, SAMPLE_CATALOG } from './helpers.ts';

const entryPath = (fn: FunctionName) => generatedEntry(PROJECT_ROOT, fn, resolveCatalogModule(SAMPLE_CATALOG));

async function bundleOf(entry: string, external: readonly string[] = BUNDLING.externalModules, alias = BUNDLE_ALIASES) {
  return build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: BUNDLING.format,
    target: BUNDLING.target,
    mainFields: [...BUNDLING.mainFields],
    define: { ...BUNDLING.define },
    external: [...external],
    alias: { ...alias },
    write: false,
    metafile: true,
    outfile: 'index.mjs',
    logLevel: 'silent',
  });
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
    expect(out.outputFiles![0]!.text).not.toMatch(/(from\s*|import\(\s*)"@aws-sdk\//);
  });

  it.each(FUNCTIONS)("%s requires node:http rather than importing it (its ES facade would load Node's undici)", async (fn) => {
    const esImport = /(from\s*|import\s*)"(node:)?http"/;
    expect((await bundleOf(entryPath(fn))).outputFiles![0]!.text).not.toMatch(esImport);
    // Without the alias the SDK's HTTP handler imports it (the check can fail).
    if (fn === 'apply') expect((await bundleOf(entryPath(fn), undefined, PACKAGE_ALIASES)).outputFiles![0]!.text).toMatch(esImport);
  });

  it.each(FUNCTIONS)('%s imports none of the builtins it only needs later (each is required where first used)', async (fn) => {
    const imported = (text: string) => LAZY_BUILTINS.filter((b) => new RegExp(`(from\\s*|import\\s*)"(node:)?${b}"`).test(text));
    expect(imported((await bundleOf(entryPath(fn))).outputFiles![0]!.text)).toEqual([]);
    // Without the aliases the SDK's credential providers import node:child_process (the check can fail).
    expect(imported((await bundleOf(entryPath(fn), undefined, PACKAGE_ALIASES)).outputFiles![0]!.text)).toContain('child_process');
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
    expect(out.outputFiles![0]!.text).toMatch(/from\s*"@aws-sdk\/client-sqs"/);
  });

  it('route evaluates the Secrets Manager client on its first key read, not at its start', async () => {
    const code = async (fn: FunctionName, external?: readonly string[]) => (await bundleOf(entryPath(fn), external)).outputFiles![0]!.text;
    // Bundled: the client's module sits in a lazy-init wrapper that only the dynamic import runs.
    const lazyInit = /__esm\(\{\s*"[^"]*node_modules\/@aws-sdk\/client-secrets-manager\/dist-es\/index\.js"/;
    expect(await code('route')).toMatch(lazyInit);
    // The webhook reads its signing key through Powertools Parameters: imported statically, no wrapper (the check can fail).
    const webhook = await bundleOf(entryPath('webhook'));
    expect(Object.keys(webhook.metafile.inputs).some((i) => i.includes('node_modules/@aws-sdk/client-secrets-manager/'))).toBe(true);
    expect(webhook.outputFiles![0]!.text).not.toMatch(lazyInit);
    // With the runtime's SDK: a dynamic import in route, a static one in the webhook.
    const staticImport = /from\s*"@aws-sdk\/client-secrets-manager"/;
    const route = await code('route', RUNTIME_SDK);
    expect(route).not.toMatch(staticImport);
    expect(route).toMatch(/import\(\s*"@aws-sdk\/client-secrets-manager"\s*\)/);
    expect(await code('webhook', RUNTIME_SDK)).toMatch(staticImport);
  });
});
