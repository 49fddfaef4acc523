/** The deployer's `bundling` prop (NodejsFunction's names) as esbuild options, over the construct's own. */
import { join } from 'node:path';
import { SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import { describe, expect, it } from 'vitest';
import { BUNDLING, ESM_BANNER, esbuildOptions } from '../../infra/construct/bundling.ts';
import { esbuildOverrides } from '../../infra/construct/function-code.ts';

const build = (overrides = {}) => esbuildOptions({ entry: '/p/e.mjs', outdir: '/o', workingDir: '/p', external: [], alias: {}, overrides });

describe('bundling options', () => {
  it("defaults: split ESM into chunks/, minified, linked source maps without sources, the require banner, undici's switch", () => {
    const o = build();
    expect(o).toMatchObject({
      format: 'esm',
      splitting: true,
      outdir: '/o',
      chunkNames: 'chunks/[name]-[hash]',
      minify: true,
      sourcemap: true,
      sourcesContent: false,
      target: 'node24',
    });
    expect(o.entryPoints).toEqual({ index: '/p/e.mjs' });
    expect(o.outExtension).toEqual({ '.js': '.mjs' });
    expect(o.banner).toEqual({ js: ESM_BANNER });
    expect(o.define).toEqual(BUNDLING.define);
  });

  it("a deployer's options are esbuild's, by NodejsFunction's names; defines and the banner add to ours", () => {
    const o = build(
      esbuildOverrides({
        minify: false,
        sourceMapMode: SourceMapMode.INLINE,
        keepNames: true,
        define: { 'process.env.X': '"1"' },
        banner: '/* mine */',
        loader: { '.txt': 'text' },
      }),
    );
    expect(o).toMatchObject({ minify: false, sourcemap: 'inline', keepNames: true, loader: { '.txt': 'text' } });
    expect(o.define).toEqual({ ...BUNDLING.define, 'process.env.X': '"1"' });
    expect(o.banner).toEqual({ js: `${ESM_BANNER}\n/* mine */` });
    expect(build(esbuildOverrides({ sourceMap: false })).sourcemap).toBe(false);
    expect(build(esbuildOverrides({ sourceMap: true })).sourcemap).toBe('linked');
    // A tsconfig is where `cdk` runs, as NodejsFunction took it.
    expect(esbuildOverrides({ tsconfig: 'tsconfig.build.json' }).tsconfig).toBe(join(process.cwd(), 'tsconfig.build.json'));
    // Options not given leave the defaults alone.
    expect(esbuildOverrides({})).toEqual({});
  });
});
