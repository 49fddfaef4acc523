/**
 * The catalog module is evaluated twice: at synth (the rule) and in each function. A module whose
 * entries depend on the environment would give the function other event types than the rule; the
 * generated entry makes such a function fail at its start, naming the difference, rather than
 * park every event the rule sends it as unknown.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { esbuildOptions } from '../../infra/construct/bundling.ts';
import { BUNDLE_ALIASES, generatedEntry, loadCatalog, resolveCatalogModule } from '../../infra/construct/catalog-module.ts';
import { PROJECT_ROOT } from '../../infra/construct/index.ts';
import { CATALOG_IMPORTS, tagEventSource, writeCatalogModule } from './helpers.ts';

const VAR = 'NMS_TEST_CATALOG_STAGE';

async function routeBundle(): Promise<string> {
  const path = writeCatalogModule(
    `${CATALOG_IMPORTS}const a = ${tagEventSource('app.env', 'thing.a')};\nconst b = ${tagEventSource('app.env', 'thing.b')};\n` +
      `export const catalog = process.env.${VAR} === 'prod' ? [a, b] : [a];\n`,
  );
  const m = resolveCatalogModule({ path });
  process.env[VAR] = 'prod';
  const atSynth = loadCatalog(m);
  expect(atSynth.map((e) => e.detailType)).toEqual(['thing.a', 'thing.b']);
  const outdir = mkdtempSync(join(PROJECT_ROOT, 'node_modules', '.cache', 'nms-runtime-catalog-'));
  await build({
    ...esbuildOptions({
      entry: generatedEntry(PROJECT_ROOT, 'route', m, atSynth),
      outdir,
      workingDir: PROJECT_ROOT,
      external: [],
      alias: BUNDLE_ALIASES,
      overrides: { logLevel: 'silent', minify: false, sourcemap: false },
    }),
  });
  return pathToFileURL(join(outdir, 'index.mjs')).href;
}

afterEach(() => {
  delete process.env[VAR];
});

describe('a catalog that differs between synth and the function', () => {
  it('the function fails at its start naming the types the rule has and it lacks; with the same catalog it starts', async () => {
    const bundle = await routeBundle();
    process.env[VAR] = 'dev';
    await expect(import(`${bundle}?dev`)).rejects.toThrow(
      /catalog differs from the one the rule was made from at synth \(missing app\.env thing\.b\)/,
    );
    process.env[VAR] = 'prod';
    const mod = (await import(`${bundle}?prod`)) as { handler: unknown };
    expect(typeof mod.handler).toBe('function');
  }, 60_000);
});
