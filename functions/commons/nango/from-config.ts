/** The Nango client from a function's configuration: its key from Secrets Manager, its latency as a metric. */
import { MetricName, MetricUnit, metrics } from '#powertools/metrics';
import type { NangoConfig } from '../config.ts';
import { keyProviderFromConfig } from '../secrets.ts';
import { HttpNangoClient } from './http-client.ts';
import { RateLimitGate } from './rate-limit.ts';

export function nangoFromConfig(c: NangoConfig): HttpNangoClient {
  return new HttpNangoClient({
    host: c.NANGO_HOST,
    endpoint: c.NANGO_ENDPOINT,
    keys: keyProviderFromConfig(c),
    timeoutMs: c.NANGO_TIMEOUT_MS,
    gate: new RateLimitGate(c.NANGO_RATE_LIMIT_WINDOW_MS),
    onResponse: ({ ms }) => metrics.addMetric(MetricName.NangoLatency, MetricUnit.Milliseconds, ms),
  });
}
