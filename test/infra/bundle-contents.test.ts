/**
 * What goes into each function's bundle, from esbuild's metafile with the construct's options
 * (bundling.ts) over the construct's generated entries (the runtime's factory over the sample
 * catalog): the webhook carries neither the Nango client nor undici, and no bundle carries two copies
 * of Powertools commons.
 */
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import type { FunctionName } from '../../functions/commons/config.ts';
import { BUNDLING } from '../../infra/construct/bundling.ts';
import { generatedEntry, PACKAGE_ALIASES, resolveCatalogModule } from '../../infra/construct/catalog-module.ts';
import { PROJECT_ROOT } from '../../infra/construct/index.ts';
import { FUNCTIONS, SAMPLE_CATALOG } from './helpers.ts';

const entryPath = (fn: FunctionName) => generatedEntry(PROJECT_ROOT, fn, resolveCatalogModule(SAMPLE_CATALOG));

async function bundleOf(entry: string) {
  return build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: BUNDLING.format,
    target: BUNDLING.target,
    mainFields: [...BUNDLING.mainFields],
    define: { ...BUNDLING.define },
    external: [...BUNDLING.externalModules],
    alias: { ...PACKAGE_ALIASES },
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

  it('route imports the Secrets Manager client on its first key read, not at its start', async () => {
    const code = async (fn: FunctionName) => (await bundleOf(entryPath(fn))).outputFiles![0]!.text;
    const staticImport = /from\s*"@aws-sdk\/client-secrets-manager"/;
    const route = await code('route');
    expect(route).not.toMatch(staticImport);
    expect(route).toMatch(/import\(\s*"@aws-sdk\/client-secrets-manager"\s*\)/);
    // The webhook reads its signing key through Powertools Parameters: a static import (the check can fail).
    expect(await code('webhook')).toMatch(staticImport);
  });
});
