/**
 * Silent non-delivery made visible by the deployed path, over the local pipeline: an event whose
 * tag differs from the connection's only by case is stored for a subject no connection belongs to;
 * route notes it, and the daily (repair) run of the sweep counts it (ReconcileUnmatchedSubjects) and
 * logs it, as a digest, with the indexed subject it nearly matches. A subject that gains a
 * connection is forgotten by the next check.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectForLog } from '#powertools/logger';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import type { SeedConnection } from '../../local/standins/nango.ts';
import { captureLogs, type Logs } from '../support/logs.ts';
import { planChanged } from '../support/events.ts';

const KEY = randomUUID();
const conn = (id: string, org: string): SeedConnection => ({
  connectionId: id,
  providerConfigKey: 'salesforce',
  provider: 'salesforce',
  tags: { organization_id: org },
});
const AT = new Date(Date.now() - 60_000).toISOString();
const UPPER = 'tags:organization_id=ACME';
const LOWER = 'tags:organization_id=acme';

let p: LocalPipeline;
let logs: Logs;
/** The metric's values, in the order the check published them. */
const metricValues = () =>
  logs
    .records()
    .filter((r) => 'ReconcileUnmatchedSubjects' in r)
    .map((r) => r.ReconcileUnmatchedSubjects);
const reports = () => logs.records().filter((r) => String(r.message).startsWith('subjects hold state that no connection belongs to'));

async function dailyRun(): Promise<void> {
  expect((await p.sweep(true)).action).toBe('started');
  await p.drain({ quietMs: 300, timeoutMs: 60_000 });
}

beforeAll(async () => {
  logs = captureLogs([KEY]);
  p = await startLocalPipeline({ nangoSecretKey: KEY, connections: [conn('acme-sf', 'acme'), conn('beta-sf', 'beta')] });
  await p.sweep();
  await p.drain({ quietMs: 200 });
  // The producer writes "ACME"; the connection's tag is "acme". And one event that does reach its connection.
  await p.send([planChanged('ACME', 'pro', AT), planChanged('beta', 'pro', AT)]);
  await p.drain({ quietMs: 200 });
}, 120_000);
afterAll(async () => {
  await p?.stop();
  logs?.stop();
});

describe("the sweep's daily check of subjects without a connection", () => {
  it('counts the subject whose tag differs by case, and reports the subject it nearly matches', async () => {
    await dailyRun();
    expect(metricValues()).toEqual([1]);
    const [report] = reports();
    expect(report).toMatchObject({
      level: 'WARN',
      count: 1,
      subjects: [{ subject: subjectForLog(UPPER), nearMatches: [{ subject: subjectForLog(LOWER), differsBy: ['case'] }] }],
    });
    // Subject ids carry tag values: logged as digests unless LOG_SUBJECT_IDS is on.
    expect(JSON.stringify(report)).not.toContain('ACME');
    expect(logs.capture.leaks()).toBe(0);
  }, 120_000);

  it('still counts it the next day; once a connection belongs to it, forgets it', async () => {
    await dailyRun();
    expect(metricValues()).toEqual([1, 1]);
    p.nango!.createConnection(conn('acme-upper', 'ACME'));
    await p.drain({ quietMs: 300 });
    await dailyRun();
    expect(metricValues()).toEqual([1, 1, 0]);
    expect(reports()).toHaveLength(2);
    // The connection got the state that waited for it.
    expect(p.nango!.metadataOf('acme-upper', 'salesforce')).toMatchObject({ plan: 'pro' });
  }, 120_000);
});
