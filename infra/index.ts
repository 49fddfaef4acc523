/**
 * The package's main entry (`nango-metadata-sync`): the construct and its props, `defineEvent` and the
 * catalog types, and a ready stack with the outputs the tools find a deployment by.
 */
export * from './construct/index.ts';
export { type OutputKey, OutputKeys } from './outputs.ts';
export { NangoMetadataSyncStack, type NangoMetadataSyncStackProps } from './stack.ts';
