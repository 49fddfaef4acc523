/**
 * A function that cannot start (its configuration is wrong) fails each invocation with the reason
 * in one error line and a `StartFailures` count in its EMF line: no empty metrics flush, nothing
 * half-built reused by the next invocation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeContext } from '../../local/lambda-shapes.ts';
import { processEnv } from '../../local/options.ts';
import { captureLogs, type Logs } from '../support/logs.ts';

const env = processEnv();
let logs: Logs;

beforeAll(() => {
  // Everything route reads is absent: the first invocation must refuse to start.
  for (const k of ['STATE_TABLE_NAME', 'SYNC_QUEUE_URL', 'INGRESS_DLQ_URL', 'NANGO_SECRET_ID', 'NANGO_SECRET_KEY']) env.set(k, undefined);
  logs = captureLogs();
});
afterAll(() => {
  logs?.stop();
  env.restore();
});

describe('a function with a bad configuration', () => {
  it('fails each invocation, says why in one line and counts it, with no empty metrics flush', async () => {
    const { handler } = await import('../../functions/route.ts');
    const context = makeContext('nango-metadata-sync-route', 'start', 10_000);
    for (let i = 0; i < 2; i++) await expect(handler({ Records: [] }, context)).rejects.toThrow(/invalid configuration/);
    const errors = logs.records().filter((r) => r.level === 'ERROR' && String(r.message).includes('cannot start'));
    expect(errors).toHaveLength(2);
    expect(String(errors[0]!.error)).toMatch(/STATE_TABLE_NAME/);
    const emf = logs.records().filter((r) => '_aws' in r);
    expect(emf.map((r) => r.StartFailures)).toEqual([1, 1]);
    expect(logs.plain().filter((l) => l.includes('No application metrics'))).toEqual([]);
  });
});
