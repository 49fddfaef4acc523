/**
 * The Nango secret key, from Secrets Manager (cached for the TTL), or
 * from NANGO_SECRET_KEY for local runs. The secret holds a bare key or JSON {"secretKey", "host"}.
 * `refresh(stale)` is single-flight: when many message groups hit 401 at once after a rotation, one
 * fetch serves them all.
 *
 * Hand-written rather than Powertools' SecretsProvider (which the webhook uses for its signing key):
 * its `forceFetch` would send one read per group hitting 401, and it cannot say "fetch again unless
 * the stale key was replaced meanwhile", which is what ends a rotation with one read.
 */
import { AWS_REQUEST_HANDLER } from './aws-request.ts';
import { Failure } from './failure.ts';
import { registerSecret } from './redact.ts';

/** Nango secret keys are UUIDs: anything else is a misconfigured secret, which no retry mends. */
export const KEY_FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface NangoCredentials {
  secretKey: string;
  /** Overrides NANGO_HOST when the secret says where its Nango lives. */
  host?: string | undefined;
}

export interface KeyProvider {
  get(): Promise<NangoCredentials>;
  /** Fetch again unless someone already replaced `stale` since. */
  refresh(stale: NangoCredentials): Promise<NangoCredentials>;
}

export function parseSecretValue(value: string): NangoCredentials {
  const creds = parseSecretShape(value);
  registerSecret(creds.secretKey);
  if (!KEY_FORMAT.test(creds.secretKey)) {
    const message = "the Nango secret key is not a UUID: put the environment's secret key in the secret";
    throw misconfigured('invalid_secret_key_format', message);
  }
  return creds;
}

function parseSecretShape(value: string): NangoCredentials {
  const trimmed = value.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      // Unreadable: any of it may be the key.
      registerSecret(trimmed);
      throw misconfigured('secret_malformed', 'the Nango secret looks like JSON but does not parse');
    }
    // Every string in it but the host, which is no secret: registering the whole text would withhold
    // every error that names the host (a DNS or TLS failure, a wrong base path's 404).
    for (const [k, v] of Object.entries(parsed && typeof parsed === 'object' ? parsed : {})) {
      if (k !== 'host') registerSecret(typeof v === 'string' ? v.trim() : JSON.stringify(v));
    }
    const p = parsed as { secretKey?: unknown; host?: unknown };
    if (typeof p.secretKey !== 'string' || !p.secretKey) {
      registerSecret(trimmed);
      throw misconfigured('secret_malformed', 'the Nango secret JSON has no "secretKey" string');
    }
    return { secretKey: p.secretKey.trim(), host: typeof p.host === 'string' && p.host ? p.host : undefined };
  }
  if (!trimmed) throw misconfigured('secret_empty', 'the Nango secret is empty: put the secret key in it');
  registerSecret(trimmed);
  return { secretKey: trimmed };
}

const misconfigured = (code: string, message: string) => new Failure({ source: 'input', kind: 'misconfigured', code, message });
const unavailable = (message: string) => new Failure({ source: 'aws', kind: 'unavailable', code: 'secret_unavailable', message });

export function staticKeyProvider(secretKey: string): KeyProvider {
  registerSecret(secretKey);
  const creds = { secretKey };
  return { get: async () => creds, refresh: async () => creds };
}

/** What the key provider reads: a secret's SecretString (undefined when it has none). */
type ReadSecret = (secretId: string) => Promise<string | undefined>;

/**
 * Secrets Manager's client, imported on the first read rather than with the function: route reads the
 * key only when it calls Nango (an index miss), so most of its cold starts never load this client.
 */
function secretsManagerRead(): ReadSecret {
  let client: Promise<(secretId: string) => Promise<string | undefined>> | undefined;
  return async (secretId) => {
    client ??= import('@aws-sdk/client-secrets-manager').then(({ SecretsManagerClient, GetSecretValueCommand }) => {
      const sm = new SecretsManagerClient({ requestHandler: AWS_REQUEST_HANDLER });
      return async (id: string) => (await sm.send(new GetSecretValueCommand({ SecretId: id }))).SecretString;
    });
    return (await client)(secretId);
  };
}

/** How long the key read last keeps serving, without a read, after the secret could not be read. */
const STALE_READ_RETRY_MS = 30_000;

function secretsManagerKeyProvider(secretId: string, ttlSeconds: number, read: ReadSecret = secretsManagerRead()): KeyProvider {
  let current: NangoCredentials | undefined;
  let fetchedAt = Number.NEGATIVE_INFINITY;
  let inflight: Promise<NangoCredentials> | undefined;
  /** After a failed read past the TTL: the cached key serves until then without another read. */
  let readAgainAt = 0;

  const fetch = (): Promise<NangoCredentials> => {
    inflight ??= (async () => {
      try {
        const value = await read(secretId);
        if (typeof value !== 'string') {
          throw unavailable(`secret ${secretId} has no SecretString`);
        }
        current = parseSecretValue(value);
        fetchedAt = Date.now();
        return current;
      } catch (e) {
        if (e instanceof Failure) throw e;
        // SDK errors name the secret and the cause, never its value.
        const name = (e as Error).name || 'Error';
        throw unavailable(`could not read secret ${secretId}: ${name}: ${(e as Error).message}`);
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };

  return {
    // Within the TTL the key read last answers; past it, one read.
    get: () => {
      const now = Date.now();
      if (!inflight && current && (now - fetchedAt < ttlSeconds * 1_000 || now < readAgainAt)) return Promise.resolve(current);
      const read = inflight ?? fetch();
      const kept = current;
      if (!kept) return read;
      // A secret that cannot be read now does not make the key read last wrong: it goes on serving
      // (a 401 would still fetch again, and fail), and the next read waits a little instead of
      // putting every request through Secrets Manager's retries while it is down.
      return read.catch((e: unknown) => {
        if (!(e instanceof Failure) || e.kind !== 'unavailable') throw e;
        readAgainAt = Date.now() + STALE_READ_RETRY_MS;
        return kept;
      });
    },
    refresh: async (stale) => {
      // A fetch already under way may be a cached read that still holds the stale key: then fetch anew.
      if (inflight) {
        const c = await inflight.catch(() => undefined);
        if (c && c.secretKey !== stale.secretKey) return c;
      }
      if (current && current.secretKey !== stale.secretKey) return current;
      return fetch();
    },
  };
}

export function keyProviderFromConfig(c: {
  NANGO_SECRET_KEY?: string | undefined;
  NANGO_SECRET_ID?: string | undefined;
  SECRET_CACHE_TTL_SECONDS: number;
}): KeyProvider {
  if (c.NANGO_SECRET_KEY) return staticKeyProvider(c.NANGO_SECRET_KEY);
  if (!c.NANGO_SECRET_ID) throw new Error('set NANGO_SECRET_ID or NANGO_SECRET_KEY');
  return secretsManagerKeyProvider(c.NANGO_SECRET_ID, c.SECRET_CACHE_TTL_SECONDS);
}
