/**
 * Runtime configuration, read once per cold start from the environment the CDK construct sets.
 * Parsed with zod so a misconfigured deployment fails at init with a message naming the variable.
 */
import * as z from 'zod';

const seconds = (def: number) => z.coerce.number().int().min(0).default(def);

const shared = {
  NANGO_HOST: z.url().default('https://api.nango.dev'),
  /** `current` = PATCH /connections/metadata; `legacy` = PATCH /connection/{id}/metadata (self-hosted). */
  NANGO_ENDPOINT: z.enum(['current', 'legacy']).default('current'),
  /** Secrets Manager secret name or ARN holding the Nango secret key (bare, or JSON {secretKey, host}). */
  NANGO_SECRET_ID: z.string().min(1).optional(),
  /** Local runs only: the key itself, bypassing Secrets Manager. */
  NANGO_SECRET_KEY: z.string().min(1).optional(),
  SECRET_CACHE_TTL_SECONDS: seconds(300),
  /** Upper bound of one Nango request; the Lambda's remaining time bounds it further. */
  NANGO_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** Length of Nango's fixed rate-limit window; lets pacing resume at the window's true end. */
  NANGO_RATE_LIMIT_WINDOW_MS: z.coerce.number().int().min(1000).default(60_000),
};

const requireSecret = <T extends { NANGO_SECRET_ID?: string | undefined; NANGO_SECRET_KEY?: string | undefined }>(c: T) =>
  c.NANGO_SECRET_ID !== undefined || c.NANGO_SECRET_KEY !== undefined;
const secretMessage = { message: 'set NANGO_SECRET_ID (Secrets Manager name or ARN) or, for local runs, NANGO_SECRET_KEY' };

export const routeConfigSchema = z
  .object({
    ...shared,
    PATCHES_QUEUE_URL: z.url(),
    INGRESS_DLQ_URL: z.url(),
    /** How long `GET /connections?connectionId=` answers are reused for `integrations: 'all'`. */
    CONNECTIONS_CACHE_TTL_SECONDS: seconds(60),
    /** Must equal the ingress queue's redrive maxReceiveCount: the last attempt writes the DLQ envelope itself. */
    MAX_RECEIVE_COUNT: z.coerce.number().int().min(1).max(1000).default(5),
  })
  .refine(requireSecret, secretMessage);

export const applyConfigSchema = z
  .object({
    ...shared,
    /** The queue apply consumes: a 429's Retry-After becomes the visibility of its messages there. */
    PATCHES_QUEUE_URL: z.url(),
    PATCHES_DLQ_URL: z.url(),
    /** Must equal the patches queue's redrive maxReceiveCount: the last attempt writes the DLQ envelope itself. */
    MAX_RECEIVE_COUNT: z.coerce.number().int().min(1).max(1000).default(5),
    /**
     * `event-time` (default): a key is never overwritten by an older event, whatever the arrival order
     * (one GET per connection and batch, versions kept in the metadata). `arrival`: patches apply in
     * queue order, one request fewer.
     */
    ORDERING: z.enum(['event-time', 'arrival']).default('event-time'),
    /** Message groups (connections) applied concurrently within one invocation. */
    APPLY_GROUP_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(8),
  })
  .refine(requireSecret, secretMessage);

export type RouteConfig = z.output<typeof routeConfigSchema>;
export type ApplyConfig = z.output<typeof applyConfigSchema>;

export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
