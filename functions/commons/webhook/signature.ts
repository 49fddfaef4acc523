/**
 * Nango signs each webhook with the environment's webhook signing key (not the API key): header
 * `X-Nango-Hmac-Sha256` = hex HMAC-SHA256 of the raw body. Checked in constant time; the key is read
 * from Secrets Manager (bare, or JSON `{"signingKey": ...}`) through Powertools Parameters' cache.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { AWS_REQUEST_HANDLER } from '../aws-request.ts';
import { Failure } from '../failure.ts';
import { registerSecret } from '../redact.ts';

export const SIGNATURE_HEADER = 'x-nango-hmac-sha256';

export const sign = (body: Buffer | string, key: string): string => createHmac('sha256', key).update(body).digest('hex');

/** A hex HMAC-SHA256 is 64 hex digits: anything else is refused before the key is even read. */
export const isWellFormedSignature = (header: string | undefined): header is string =>
  header !== undefined && /^[0-9a-f]{64}$/i.test(header.trim());

export function verifySignature(body: Buffer, header: string | undefined, key: string): boolean {
  if (!isWellFormedSignature(header)) return false;
  const expected = Buffer.from(sign(body, key), 'hex');
  return timingSafeEqual(expected, Buffer.from(header.trim(), 'hex'));
}

export interface SigningKeySource {
  get(): Promise<string>;
  /**
   * Reads the secret again, at most once per REFRESH_INTERVAL_MS per execution environment: after a
   * rotation the first deliveries signed with the new key fail against the cached one. Bounded, so a
   * flood of bad signatures cannot turn into a flood of Secrets Manager calls.
   */
  refresh(): Promise<string | undefined>;
}

export const REFRESH_INTERVAL_MS = 30_000;

function parseSigningKey(value: string): string {
  const trimmed = value.trim();
  let key = trimmed;
  if (trimmed.startsWith('{')) {
    try {
      key = String((JSON.parse(trimmed) as { signingKey?: unknown }).signingKey ?? '');
    } catch {
      key = '';
    }
  }
  registerSecret(key);
  const message = 'the webhook signing-key secret is empty or has no "signingKey"';
  if (!key) throw new Failure({ source: 'input', kind: 'misconfigured', code: 'signing_key_missing', message });
  return key;
}

export function signingKeyFromConfig(
  c: { WEBHOOK_SIGNING_KEY?: string | undefined; WEBHOOK_SECRET_ID?: string | undefined; SECRET_CACHE_TTL_SECONDS: number },
  provider = new SecretsProvider({
    clientConfig: { requestHandler: AWS_REQUEST_HANDLER },
  }),
  now = Date.now,
): SigningKeySource {
  if (c.WEBHOOK_SIGNING_KEY) {
    const key = parseSigningKey(c.WEBHOOK_SIGNING_KEY);
    return { get: async () => key, refresh: async () => undefined };
  }
  const id = c.WEBHOOK_SECRET_ID;
  if (!id) throw new Error('set WEBHOOK_SECRET_ID or WEBHOOK_SIGNING_KEY');
  const read = async (forceFetch: boolean) => {
    const value = await provider.get(id, { maxAge: c.SECRET_CACHE_TTL_SECONDS, forceFetch });
    const message = `secret ${id} has no SecretString`;
    if (typeof value !== 'string') throw new Failure({ source: 'aws', kind: 'unavailable', code: 'secret_unavailable', message });
    return parseSigningKey(value);
  };
  let lastRefresh = Number.NEGATIVE_INFINITY;
  return {
    get: () => read(false),
    refresh: async () => {
      if (now() - lastRefresh < REFRESH_INTERVAL_MS) return undefined;
      lastRefresh = now();
      return read(true);
    },
  };
}
