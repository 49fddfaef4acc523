/**
 * What goes over the wire: Nango's validation rules for the current metadata endpoint, its error
 * bodies, and Express's HTML 404 page. Kept independent of the project's own id rules on purpose:
 * the stand-in encodes what the real server does, so a wrong rule in the project shows up in tests.
 */
import { randomUUID } from 'node:crypto';
import * as z from 'zod';

// As observed on a real Nango server (0.71.x).
const CONNECTION_ID = /^[a-zA-Z0-9,.;:=+~[\]|@${}"'\\/_ -]+$/;
const PROVIDER_CONFIG_KEY = /^[a-zA-Z0-9~:.@ _-]+$/;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

export const isUuidV4 = (s: string): boolean => UUID_V4.test(s);

export const connectionIdSchema = z.string().regex(CONNECTION_ID).max(255);
export const providerConfigKeySchema = z.string().regex(PROVIDER_CONFIG_KEY).max(255);

// Nango's connection tags: at most 10 keys; keys start with a letter, then letters, digits and
// _ - . / up to 64 characters, normalised to lowercase (two keys equal after that are refused);
// values 1..255 characters, case kept.
const TAG_KEY = /^[a-zA-Z][a-zA-Z0-9_\-./]*$/;
export const tagsSchema = z
  .record(
    z
      .string()
      .regex(TAG_KEY, 'Tag keys must start with a letter and contain only alphanumerics, underscores, hyphens, periods, or slashes')
      .max(64),
    z.string().min(1).max(255),
  )
  .check((ctx) => {
    const keys = Object.keys(ctx.value);
    if (keys.length > 10) ctx.issues.push({ code: 'custom', message: 'Tags cannot contain more than 10 keys', input: ctx.value });
    const seen = new Set<string>();
    for (const k of keys) {
      const lower = k.toLowerCase();
      if (seen.has(lower))
        ctx.issues.push({ code: 'custom', message: `Duplicate tag key after case normalization: "${lower}"`, input: ctx.value });
      seen.add(lower);
    }
  })
  .transform((t) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k.toLowerCase(), v])));

export function parseTags(tags: unknown): { ok: true; value: Record<string, string> } | { ok: false; message: string } {
  const r = tagsSchema.safeParse(tags);
  return r.success ? { ok: true, value: r.data } : { ok: false, message: r.error.issues.map((i) => i.message).join('; ') };
}

/** The server's zod schema for PATCH/POST /connections/metadata (strict: unknown keys rejected). */
export const metadataBodySchema = z
  .object({
    connection_id: z.union([connectionIdSchema, z.array(connectionIdSchema)]),
    provider_config_key: providerConfigKeySchema,
    metadata: z.record(z.string(), z.unknown()),
  })
  .strict();

/** PATCH /connections/{connectionId}: what an edit may change (the spec's body; strict like the others). */
export const editBodySchema = z
  .object({
    tags: tagsSchema.optional(),
    webhook_url_override: z.string().optional(),
    end_user: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export interface ValidationIssue {
  code: string;
  message: string;
  path: PropertyKey[];
}

/** Nango's zodErrorToHTTP: only code, message and path of each issue. */
export const zodIssues = (err: z.ZodError): ValidationIssue[] => err.issues.map(({ code, message, path }) => ({ code, message, path }));

export interface StdErrorBody {
  error: { code: string; message?: string; errors?: unknown; payload?: unknown; [k: string]: unknown };
}

export const stdError = (code: string, extra: Omit<StdErrorBody['error'], 'code'> = {}): StdErrorBody => ({
  error: { code, ...extra },
});

export const AUTH_MESSAGES = {
  missing_auth_header: 'Authentication failed. The request is missing the Authorization header.',
  invalid_secret_key_format: 'Authentication failed. The provided secret key is not a UUID v4.',
  unknown_account: 'Authentication failed. The provided authorization header does not match any account.',
  forbidden: 'Forbidden: the secret key lacks the scope environment:connections:update.',
  forbiddenList: 'Forbidden: the secret key lacks the scope environment:connections:list.',
} as const;

/** The legacy route without Provider-Config-Key: a 500 with a support id and the extra keys the spec forbids. */
export function genericErrorSupport(method: string, path: string): StdErrorBody {
  const id = randomUUID();
  return stdError('generic_error_support', {
    message: `An error occurred. Please contact support with this unique id: ${id}`,
    payload: id,
    method,
    path,
  });
}

export const unknownConnection = (connectionId: string, providerConfigKey: string, several = false): StdErrorBody => {
  const base = `Connection with connection id ${connectionId} and provider config key ${providerConfigKey} not found. Please make sure the connection exists in the Nango dashboard`;
  return stdError('unknown_connection', {
    message: several ? `${base}. No actions were taken on any of the connections as a result of this failure.` : base,
  });
};

/** The legacy route's 404: Nango's older error, with the ids in `payload` and in the message. */
export const legacyUnknownConnection = (connectionId: string, providerConfigKey: string): StdErrorBody => {
  const payload = { connectionId, providerConfigKey };
  return stdError('unknown_connection', {
    message: `No connection matching the provided params of 'connection_id' and 'provider_config_key'. Please make sure these values exist in the Nango dashboard ${JSON.stringify(payload, null, 2)}`,
    payload,
  });
};

/** An authentication failure: Nango's errors of that kind carry an empty `payload`. */
export const authError = (code: keyof typeof AUTH_MESSAGES): StdErrorBody => stdError(code, { message: AUTH_MESSAGES[code], payload: {} });

/** A 429's body names the request (path without its query), not the limit. */
export const tooManyRequests = (method: string, path: string): StdErrorBody => stdError('too_many_request', { method, path });

/** Nango's times: ISO 8601 with an explicit +00:00 offset, not `Z`. */
export const nangoTime = (iso: string): string => new Date(iso).toISOString().replace(/Z$/, '+00:00');

export const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** Express's finalhandler page for an unmatched route. */
export const expressNotFound = (method: string, path: string): string =>
  '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n' +
  `<pre>Cannot ${escapeHtml(method)} ${escapeHtml(path)}</pre>\n</body>\n</html>\n`;

/** What a proxy (nginx, a load balancer) sends when the upstream fails. */
export const proxyErrorPage = (status: number): string => {
  const text =
    status === 502 ? 'Bad Gateway' : status === 503 ? 'Service Temporarily Unavailable' : status === 504 ? 'Gateway Time-out' : 'Error';
  return `<html>\r\n<head><title>${status} ${text}</title></head>\r\n<body>\r\n<center><h1>${status} ${text}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
};
