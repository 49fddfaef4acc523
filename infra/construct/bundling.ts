/**
 * The functions' esbuild options, in one place: the construct passes them to NodejsFunction and the
 * bench builds the same bundles from them (so this module imports nothing from aws-cdk-lib).
 */

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
