/** The tools' `--catalog PATH [--catalog-export NAME]`: the user's catalog module, loaded as the construct loads it. */
import { readFile } from 'node:fs/promises';
import type { Catalog } from '#events/define';
import { loadCatalog, resolveCatalogModule } from '../infra/construct/catalog-module.ts';
import { UsageError } from './args.ts';
import type { SeedConnection } from '../local/standins/nango.ts';

export function loadCatalogArg(path: string, exportName?: string): Catalog {
  try {
    return loadCatalog(resolveCatalogModule({ path, ...(exportName ? { exportName } : {}) }));
  } catch (e) {
    throw new UsageError(`--catalog: ${(e as Error).message}`);
  }
}

/** A JSON array of connections for the Nango stand-in. */
export async function loadConnectionsArg(path: string): Promise<SeedConnection[]> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`--connections: ${(e as Error).message}`);
  }
  if (!Array.isArray(value) || !value.every((c) => typeof c?.connectionId === 'string' && typeof c?.providerConfigKey === 'string')) {
    throw new UsageError('--connections: a JSON array of {connectionId, providerConfigKey, tags?, metadata?} is expected');
  }
  return value as SeedConnection[];
}
