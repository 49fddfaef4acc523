import type { NangoPort } from './port.ts';

/**
 * A Nango client loaded (undici, the key's Secrets Manager client) on its first call. For route,
 * which calls Nango only on an index miss: most of its cold starts never load it. A failed load is
 * tried again on the next call.
 */
export function lazyNango(load: () => Promise<NangoPort>): NangoPort {
  let port: Promise<NangoPort> | undefined;
  const get = () =>
    (port ??= load().catch((e: unknown) => {
      port = undefined;
      throw e;
    }));
  return {
    patchMetadata: async (target, patch, opts) => (await get()).patchMetadata(target, patch, opts),
    listConnections: async (filter, page, opts) => (await get()).listConnections(filter, page, opts),
  };
}
