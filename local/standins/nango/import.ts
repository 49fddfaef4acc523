/**
 * POST /connections (import a connection whose credentials you already have), as Nango's controller
 * validates it: provider_config_key and credentials required, `tags` as on a Connect session, no
 * query parameters. An existing (connection, integration) is overwritten: operation "override".
 */
import * as z from 'zod';
import { connectionIdSchema, providerConfigKeySchema, tagsSchema } from './wire.ts';

const credentialsSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('OAUTH2'), access_token: z.string() }),
  z.looseObject({ type: z.literal('OAUTH2_CC'), token: z.string() }),
  z.looseObject({ type: z.literal('OAUTH1'), oauth_token: z.string(), oauth_token_secret: z.string() }),
  z.looseObject({ type: z.literal('BASIC'), username: z.string(), password: z.string() }),
  z.looseObject({ type: z.literal('API_KEY'), apiKey: z.string() }),
  z.strictObject({ type: z.literal('NONE') }),
  z.looseObject({ type: z.literal('TBA'), token_id: z.string(), token_secret: z.string() }),
  z.looseObject({ type: z.literal('APP'), app_id: z.string(), installation_id: z.string() }),
]);

export const importBodySchema = z.object({
  provider_config_key: providerConfigKeySchema,
  metadata: z.record(z.string(), z.unknown()).optional(),
  connection_config: z.looseObject({}).optional(),
  connection_id: connectionIdSchema.optional(),
  credentials: credentialsSchema,
  tags: tagsSchema.optional(),
  end_user: z.unknown().optional(),
});
export type ImportBody = z.output<typeof importBodySchema>;

/** What the request record keeps of an import body: never the credentials, even fake ones. */
export function maskCredentials(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body) || !('credentials' in body)) return body;
  const c = (body as { credentials?: unknown }).credentials;
  const type = c && typeof c === 'object' ? (c as { type?: unknown }).type : undefined;
  return { ...body, credentials: { type, masked: true } };
}
