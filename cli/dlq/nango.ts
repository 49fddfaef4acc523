/**
 * Read-only Nango access for `replay --dry-run`: a connection's current metadata, shown beside what
 * a replay would send. It reads with `GET /connections?connectionId=&integrationId=`, the list
 * endpoint: it returns metadata and no credentials. `GET /connections/{id}` is never called: it
 * returns credentials and makes Nango refresh OAuth tokens, which a dry run must not do.
 * The key comes from NANGO_SECRET_KEY or Secrets Manager (bare, or JSON {secretKey, host}); it is
 * registered as a secret the moment it is read, and every result is scrubbed of it.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Agent, request } from 'undici';
import { registerSecret } from '#commons/redact';
import { KEY_FORMAT } from '#commons/secrets';
import { CliError, describeError } from './errors.ts';
import { scrub, scrubValue } from './scrub.ts';

export interface NangoAccess {
  host: string;
  key: string;
}

export type MetadataResult =
  | { ok: true; metadata: Record<string, unknown> | null }
  | { ok: false; status?: number | undefined; code: string; message: string; errors?: unknown };

export const DEFAULT_NANGO_HOST = 'https://api.nango.dev';

export const INVALID_KEY_CODE = 'invalid_secret_key_format';

/** The key as configured (environment or Secrets Manager), registered for scrubbing; undefined when none is configured. */
export async function readNangoKey(
  opts: { secretId?: string | undefined },
  env: NodeJS.ProcessEnv,
  secrets: () => SecretsManagerClient,
): Promise<{ key: string; host?: string | undefined } | undefined> {
  if (env.NANGO_SECRET_KEY !== undefined && env.NANGO_SECRET_KEY !== '') {
    registerSecret(env.NANGO_SECRET_KEY.trim());
    return { key: env.NANGO_SECRET_KEY.trim() };
  }
  const secretId = opts.secretId ?? env.NANGO_SECRET_ID;
  if (!secretId) return undefined;
  let value: string | undefined;
  try {
    value = (await secrets().send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
  } catch (e) {
    const err = describeError(e);
    throw new CliError(`reading the Nango key from Secrets Manager (${secretId}): ${scrub(err.message)}`, err.exitCode);
  }
  const parsed = parseSecret(value ?? '');
  registerSecret(parsed.key);
  return parsed;
}

export async function resolveNangoAccess(
  opts: { host?: string | undefined; secretId?: string | undefined },
  env: NodeJS.ProcessEnv,
  secrets: () => SecretsManagerClient,
): Promise<NangoAccess | undefined> {
  const found = await readNangoKey(opts, env, secrets);
  if (!found) return undefined;
  return { host: opts.host ?? env.NANGO_HOST ?? found.host ?? DEFAULT_NANGO_HOST, key: found.key };
}

/** A configured but empty secret is kept as an empty key: reading with it fails clearly, it is not "no key". */
function parseSecret(s: string): { key: string; host?: string | undefined } {
  const t = s.trim();
  if (t.startsWith('{')) {
    try {
      const j = JSON.parse(t) as { secretKey?: unknown; host?: unknown };
      return { key: typeof j.secretKey === 'string' ? j.secretKey.trim() : '', host: typeof j.host === 'string' ? j.host : undefined };
    } catch {
      /* not JSON: a bare key */
    }
  }
  return { key: t };
}

export function keyProblem(key: string): MetadataResult | undefined {
  // Nango's secret keys are UUIDs; its server answers 401 `invalid_secret_key_format` to anything else.
  if (KEY_FORMAT.test(key)) return undefined;
  return {
    ok: false,
    code: INVALID_KEY_CODE,
    message: key
      ? 'the configured Nango secret key is not a UUID; check NANGO_SECRET_KEY or the secret (bare key, or JSON {"secretKey": ...})'
      : 'the configured Nango secret key is empty; check NANGO_SECRET_KEY or the secret (bare key, or JSON {"secretKey": ...})',
  };
}

/** Reads metadata with one keep-alive pool, closed at the end so no socket holds the CLI open. */
export class NangoReader {
  private readonly agent = new Agent({ connect: { timeout: 5_000 } });

  constructor(
    private readonly access: NangoAccess,
    private readonly timeoutMs = 10_000,
  ) {}

  get host(): string {
    return this.access.host;
  }

  async metadataOf(connectionId: string, providerConfigKey: string): Promise<MetadataResult> {
    const bad = keyProblem(this.access.key);
    if (bad) return bad;
    const url = new URL(`${this.access.host.replace(/\/+$/, '')}/connections`);
    url.searchParams.set('connectionId', connectionId);
    url.searchParams.set('integrationId', providerConfigKey);
    let status: number;
    let text: string;
    let contentType: string;
    try {
      const res = await request(url, {
        method: 'GET',
        dispatcher: this.agent,
        headers: { authorization: `Bearer ${this.access.key}`, accept: 'application/json' },
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      status = res.statusCode;
      contentType = String(res.headers['content-type'] ?? '');
      text = await res.body.text();
    } catch (e) {
      const code = networkCode(e);
      return { ok: false, code: 'network_error', message: scrub(`cannot reach ${this.access.host}${code ? ` (${code})` : ''}`) };
    }
    return scrubValue(interpret(status, contentType, text, connectionId, providerConfigKey));
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function interpret(status: number, contentType: string, text: string, connectionId: string, providerConfigKey: string): MetadataResult {
  const body = tryJson(text);
  if (status < 200 || status >= 300) {
    const err = (body as { error?: { code?: unknown; message?: unknown; errors?: unknown } } | undefined)?.error;
    if (err && typeof err === 'object') {
      return {
        ok: false,
        status,
        code: typeof err.code === 'string' ? err.code : `http_${status}`,
        message: typeof err.message === 'string' ? err.message : `HTTP ${status}`,
        ...(err.errors !== undefined ? { errors: err.errors } : {}),
      };
    }
    // A proxy's page: a short excerpt of its text says more than the status alone.
    const excerpt = /html/i.test(contentType) ? htmlText(text) : text.trim();
    return { ok: false, status, code: `http_${status}`, message: excerpt.slice(0, 300) || `HTTP ${status}` };
  }
  const list = (body as { connections?: unknown } | undefined)?.connections;
  if (!Array.isArray(list)) return { ok: false, status, code: 'unexpected_body', message: 'the answer has no connections list' };
  // The filters are Nango's; checked again here so a server that ignores one cannot show another connection.
  const c = list.find(
    (x): x is { metadata?: unknown } =>
      typeof x === 'object' && x !== null && x.connection_id === connectionId && x.provider_config_key === providerConfigKey,
  );
  if (!c) return { ok: false, status: 404, code: 'unknown_connection', message: 'Nango lists no such connection' };
  const md = c.metadata;
  if (md === null || md === undefined) return { ok: true, metadata: null };
  if (typeof md !== 'object' || Array.isArray(md))
    return { ok: false, status, code: 'unexpected_body', message: 'metadata is not an object' };
  return { ok: true, metadata: md as Record<string, unknown> };
}

const htmlText = (html: string) =>
  html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

function tryJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function networkCode(err: unknown): string | undefined {
  for (let c: unknown = err, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
