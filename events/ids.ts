import * as z from 'zod';

/**
 * Nango's own rules for ids, as observed on a real server: connection ids match
 * CONNECTION_ID_RE and are at most 255 characters; integration ids (provider config keys) match
 * PROVIDER_CONFIG_KEY_RE. Checked before any request so a bad id is a clear DLQ error, never a
 * request to another path.
 */
export const CONNECTION_ID_RE = /^[a-zA-Z0-9,.;:=+~[\]|@${}"'\\/_ -]+$/;
export const PROVIDER_CONFIG_KEY_RE = /^[a-zA-Z0-9~:.@ _-]+$/;
export const MAX_ID_LENGTH = 255;

export const connectionIdSchema = z
  .string()
  .min(1)
  .max(MAX_ID_LENGTH)
  .regex(CONNECTION_ID_RE, 'connection id has characters Nango does not allow');

export const providerConfigKeySchema = z
  .string()
  .min(1)
  .max(MAX_ID_LENGTH)
  .regex(PROVIDER_CONFIG_KEY_RE, 'provider config key has characters Nango does not allow');

/** Nango tag values: strings of at most 255 characters (keys are lowercase, declared in the catalog). */
export const tagValueSchema = z.string().min(1).max(MAX_ID_LENGTH);
