/** Options of the local pipeline, their defaults, and the process environment it sets and restores. */
import type { InvocationInfo, InvocationResult } from './event-source.ts';
import type { Catalog } from '#events/define';
import type { NangoStandinOptions, SeedConnection } from './standins/nango.ts';

export interface StageOptions {
  batchSize: number;
  maxBatchingWindowMs: number;
  functionTimeoutMs: number;
  concurrency: number;
  /** The event source's idle long poll (Lambda: 20 s); default 1 s, so a test's stop() and idle CPU stay cheap. */
  pollWaitMs?: number;
  /** Pollers gathering batches; default concurrency (one each). */
  pollers?: number;
  crashAfter?: (info: InvocationInfo) => boolean | number;
  onInvocation?: (r: InvocationResult) => void;
}

export interface LocalPipelineOptions {
  /** The event catalog the handlers run over. Default: the sample catalog (events/catalog.ts). */
  catalog?: Catalog;
  /**
   * The webhook signing key the webhook function verifies with. Default: a random one (the stand-in
   * signs with it); against a real Nango, that environment's own key.
   */
  webhookSigningKey?: string;
  /** Use this Nango instead of the stand-in (with nangoSecretKey). */
  nangoUrl?: string;
  nangoSecretKey?: string;
  /** Stand-in options (latency, rate limit, faults, race mode...). */
  nango?: Omit<NangoStandinOptions, 'secretKey' | 'connections' | 'webhook'>;
  /** Stand-in connections; default local/fixtures/connections.json. */
  connections?: SeedConnection[];
  endpoint?: 'current' | 'legacy';
  /** Redrive limit of both source queues, and the functions' MAX_RECEIVE_COUNT. Default 5. */
  maxReceiveCount?: number;
  /** Default: the stage's function timeout (AWS requires at least that). */
  ingressVisibilitySeconds?: number;
  syncVisibilitySeconds?: number;
  /**
   * The sync queue's delivery delay, in seconds. Default 0, so local runs and tests answer at once;
   * the construct's default (2 s) debounces bursts, and the bench runs with it.
   */
  syncDeliveryDelaySeconds?: number;
  route?: Partial<StageOptions>;
  apply?: Partial<StageOptions>;
  /** The sweep's page source (one page per invocation); its hooks, e.g. to tag its Nango calls. */
  sweep?: Pick<Partial<StageOptions>, 'crashAfter' | 'onInvocation' | 'pollWaitMs'>;
  /** The sweep queue's visibility and its page function's timeout (default 60 s): how soon a failed page is retried. */
  sweepVisibilitySeconds?: number;
  /** The webhook function URL's reserved concurrency (429 past it, and past 10 x it a second); none by default. */
  webhookReservedConcurrency?: number;
  queuePrefix?: string;
  secretId?: string;
  /** Extra handler environment (e.g. APPLY_GROUP_CONCURRENCY, NANGO_TIMEOUT_MS). */
  env?: Record<string, string>;
}

export const stageDefaults = (s: Partial<StageOptions> = {}): StageOptions => ({
  batchSize: 10,
  maxBatchingWindowMs: 0,
  functionTimeoutMs: 10_000,
  concurrency: 2,
  ...s,
});

/** Sets process.env for the handlers and puts back what was there before on restore(). */
export function processEnv() {
  const saved = new Map<string, string | undefined>();
  const set = (k: string, v: string | undefined) => {
    if (!saved.has(k)) saved.set(k, process.env[k]);
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  };
  return {
    set,
    setAll(vars: Record<string, string>) {
      for (const [k, v] of Object.entries(vars)) set(k, v);
      // Never reach AWS: loopback endpoints, and placeholder credentials when none are set.
      if (!process.env.AWS_ACCESS_KEY_ID) {
        set('AWS_ACCESS_KEY_ID', 'local');
        set('AWS_SECRET_ACCESS_KEY', 'local');
        set('AWS_SESSION_TOKEN', undefined);
      }
    },
    restore() {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}
