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

/**
 * Nango's tag rules: at most MAX_TAGS per connection; a key is a letter, then letters, digits and
 * `_ - . /`, at most 64 characters, stored lowercase (we require the lowercase form, so a match is
 * exact); a value is 1 to 255 characters. One definition for the catalog, route and the Nango client.
 */
export const MAX_TAGS = 10;
export const tagKeySchema = z
  .string()
  .max(64, 'tag key longer than 64 characters')
  .regex(/^[a-z][a-z0-9_\-./]*$/, 'tag key must be lowercase: a letter, then a-z 0-9 _ - . /');
export const tagValueSchema = z.string().min(1, 'tag value is empty').max(MAX_ID_LENGTH, 'tag value longer than 255 characters');
