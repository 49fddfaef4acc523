/**
 * Read-only Nango access for `replay --dry-run`: the connection's current metadata, shown beside
 * the patch so an operator sees what a replay would overwrite. The key comes from NANGO_SECRET_KEY
 * or Secrets Manager (bare, or JSON {secretKey, host}) and is never printed: errors carry Nango's
 * status and code only.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CliError, describeError } from './errors.ts';

export interface NangoAccess {
  host: string;
  key: string;
}

export type MetadataResult =
  | { ok: true; metadata: Record<string, unknown> | null }
  | { ok: false; status?: number | undefined; code: string; message: string };

export const DEFAULT_NANGO_HOST = 'https://api.nango.dev';

export async function resolveNangoAccess(
  opts: { host?: string | undefined; secretId?: string | undefined },
  env: NodeJS.ProcessEnv,
  secrets: () => SecretsManagerClient,
): Promise<NangoAccess | undefined> {
  const explicitHost = opts.host ?? env.NANGO_HOST;
  if (env.NANGO_SECRET_KEY) return { host: explicitHost ?? DEFAULT_NANGO_HOST, key: env.NANGO_SECRET_KEY };
  const secretId = opts.secretId ?? env.NANGO_SECRET_ID;
  if (!secretId) return undefined;
  let value: string | undefined;
  try {
    value = (await secrets().send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
  } catch (e) {
    const err = describeError(e);
    throw new CliError(`reading the Nango key from Secrets Manager (${secretId}): ${err.message}`, err.exitCode);
  }
  const parsed = parseSecret(value ?? '');
  if (!parsed) return undefined;
  return { host: explicitHost ?? parsed.host ?? DEFAULT_NANGO_HOST, key: parsed.key };
}

function parseSecret(s: string): { key: string; host?: string | undefined } | undefined {
  const t = s.trim();
  if (!t) return undefined;
  if (t.startsWith('{')) {
    try {
      const j = JSON.parse(t) as { secretKey?: unknown; host?: unknown };
      if (typeof j.secretKey === 'string' && j.secretKey)
        return { key: j.secretKey, host: typeof j.host === 'string' ? j.host : undefined };
    } catch {
      /* not JSON: a bare key */
    }
    return undefined;
  }
  return { key: t };
}

/** `GET /connections/{id}?provider_config_key=` (id percent-encoded: ids may hold `/`, spaces, `@`). */
export async function fetchMetadata(
  access: NangoAccess,
  connectionId: string,
  providerConfigKey: string,
  timeoutMs = 10_000,
): Promise<MetadataResult> {
  const url = `${access.host.replace(/\/+$/, '')}/connections/${encodeURIComponent(connectionId)}?provider_config_key=${encodeURIComponent(providerConfigKey)}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { authorization: `Bearer ${access.key}`, accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    return { ok: false, code: 'network_error', message: `cannot reach ${access.host}${cause ? ` (${cause})` : ''}` };
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    return {
      ok: false,
      status: res.status,
      code: typeof err?.code === 'string' ? err.code : `http_${res.status}`,
      message: typeof err?.message === 'string' ? err.message : res.statusText,
    };
  }
  const md = (body as { metadata?: unknown } | undefined)?.metadata;
  if (md === null || md === undefined) return { ok: true, metadata: null };
  if (typeof md !== 'object' || Array.isArray(md))
    return { ok: false, status: res.status, code: 'unexpected_body', message: 'metadata is not an object' };
  return { ok: true, metadata: md as Record<string, unknown> };
}
