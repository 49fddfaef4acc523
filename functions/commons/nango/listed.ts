/**
 * Reads GET /connections answers leniently where Nango varies (tags null on old rows, metadata
 * absent, extra keys such as end_user and errors) and strictly where a wrong read would send
 * metadata to the wrong place (connection id and provider config key must be strings).
 */
import * as z from 'zod';
import type { ListedConnection } from './port.ts';

const listedSchema = z.object({
  connection_id: z.string(),
  provider_config_key: z.string(),
  provider: z.string().optional().catch(undefined),
  // Entry by entry: one odd value must not empty the set, which would read as "left every subject".
  tags: z
    .record(z.string(), z.unknown())
    .nullish()
    .catch(null)
    .transform((t) => (t ? Object.fromEntries(Object.entries(t).filter((e): e is [string, string] => typeof e[1] === 'string')) : t)),
  metadata: z.record(z.string(), z.unknown()).nullish().catch(null),
  created: z.string().optional().catch(undefined),
});

const listSchema = z.object({ connections: z.array(listedSchema) });

/** The connections of a 200 answer, or undefined when the body is not a connections list. */
export function parseConnections(text: string): ListedConnection[] | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = listSchema.safeParse(json);
  if (!r.success) return undefined;
  return r.data.connections.map((c) => ({
    connectionId: c.connection_id,
    providerConfigKey: c.provider_config_key,
    ...(c.provider !== undefined ? { provider: c.provider } : {}),
    tags: c.tags ?? {},
    metadata: c.metadata ?? null,
    ...(c.created !== undefined ? { created: c.created } : {}),
  }));
}
