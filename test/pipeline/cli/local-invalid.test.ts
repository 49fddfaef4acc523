/**
 * `npm start` with envelopes route refuses before mapping (no `detail-type`, a JSON array, a string):
 * each is parked in the ingress DLQ, so the run finished (exit 0, as the help says), and the report
 * (and the parked envelope) keep the body's own event id when it has one.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../../cli/local.ts';
import type { RunReport } from '../../../cli/local-report.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'local-invalid-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

it('an invalid envelope parked in the ingress DLQ counts as finished: exit 0, its event id kept', async () => {
  const events = [
    // No detail-type: refused by the envelope check, before any catalog lookup.
    { id: 'no-type-1', source: 'app.billing', time: '2026-11-21T08:00:00Z', detail: { organizationId: 'acme' } },
    // No id at all: known by its SQS message id.
    ['not', 'an', 'envelope'],
    {
      id: 'good-1',
      source: 'app.billing',
      'detail-type': 'customer.plan_changed',
      time: '2026-11-21T08:01:00Z',
      detail: { organizationId: 'globex', plan: 'free', changedAt: '2026-11-21T08:01:00.000Z' },
    },
  ];
  const file = join(dir, 'events.json');
  await writeFile(file, JSON.stringify(events));
  let out = '';
  let err = '';
  const code = await main(['--json', '--log-file', join(dir, 'run.log'), file], {
    out: { write: (t: string) => void (out += t), isTTY: false },
    err: { write: (t: string) => void (err += t), isTTY: false },
    env: { ...process.env, NANGO_SECRET_KEY: '' },
  });
  expect(code, err).toBe(0);
  const report = JSON.parse(out) as RunReport;
  expect(report.summary).toMatchObject({ events: 3, pending: 0, dlq: 2, setState: 1 });
  expect(report.events.find((e) => e.eventId === 'no-type-1')).toMatchObject({ outcome: 'dlq', error: { code: 'invalid_envelope' } });
  // The parked envelope names the body's own id, so `npm run dlq -- list` and a replay can find it.
  expect(report.dlq.find((d) => d.code === 'invalid_envelope' && d.eventIds.includes('no-type-1'))).toBeDefined();
  expect(report.events.filter((e) => e.outcome === 'dlq')).toHaveLength(2);
}, 120_000);
