/**
 * What goes into each function's bundle, from esbuild's metafile with the construct's options (ESM,
 * main fields module,main, @aws-sdk/* left to the runtime): the webhook carries neither the Nango
 * client nor undici, and no bundle carries two copies of Powertools commons.
 */
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS, entryPath } from './helpers.ts';

async function inputsOf(entry: string): Promise<string[]> {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    external: ['@aws-sdk/*'],
    write: false,
    metafile: true,
    outfile: 'index.mjs',
    logLevel: 'silent',
  });
  return Object.keys(r.metafile.inputs);
}

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
    // One package directory: the top-level one (a nested copy would add its parent's path).
    expect([...copies]).toEqual(['']);
  });
});
