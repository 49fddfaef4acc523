/**
 * Silent non-delivery made visible: an event whose tag value differs from the connection's only by
 * case, Unicode form or surrounding spaces is stored for a subject no connection belongs to. A
 * complete reconcile reports it with its near match; a subject with state and nothing near is
 * reported too; one filtered run reports nothing (it cannot tell).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectId } from '#commons/domain/subject';
import { main } from '../../../cli/reconcile.ts';
import type { ReconcileReport } from '#commons/reconcile/run';
import { type LocalPipeline, startLocalPipeline } from '../../../local/pipeline.ts';
import { planChanged } from '../../support/events.ts';

const tags = (v: string) => subjectId({ by: 'tags', tags: { organization_id: v }, integrations: 'all' });
let p: LocalPipeline;
const run = async (argv: string[]) => {
  let out = '';
  let err = '';
  const code = await main(argv, {
    out: { write: (t: string) => void (out += t), isTTY: false },
    err: { write: (t: string) => void (err += t), isTTY: false },
  });
  return { code, out, err };
};

beforeAll(async () => {
  p = await startLocalPipeline();
  const at = new Date(Date.now() - 60_000).toISOString();
  await p.send([
    planChanged('ACME', 'pro', at, { id: 'case-1' }),
    planChanged('globex ', 'pro', at, { id: 'space-1' }),
    planChanged('nobody-at-all', 'pro', at, { id: 'none-1' }),
    planChanged('acme', 'starter', at, { id: 'ok-1' }),
  ]);
  await p.drain();
}, 60_000);
afterAll(() => p?.stop());

describe('reconcile reports subjects holding state with no connection', () => {
  it('--json: each unmatched subject, its near match and how it differs; matched ones are not listed', async () => {
    const r = await run(['--dry-run', '--json']);
    const report = JSON.parse(r.out) as ReconcileReport;
    expect(report.unmatchedCount).toBe(3);
    expect(report.unmatched).toEqual([
      { subject: tags('ACME'), nearMatches: [{ subject: tags('acme'), differsBy: ['case'] }] },
      { subject: tags('globex '), nearMatches: [{ subject: tags('globex'), differsBy: ['spaces'] }] },
      { subject: tags('nobody-at-all'), nearMatches: [] },
    ]);
  });

  it('for people: named, with the near match', async () => {
    const r = await run(['--dry-run']);
    expect(r.out).toContain('3 subjects hold state that no connection belongs to');
    expect(r.out).toContain(`${tags('ACME')}  near match: ${tags('acme')} (differs by case)`);
  });

  it('a run limited to some subjects or integrations cannot tell, and says nothing', async () => {
    const r = await run(['--dry-run', '--json', '--integration', 'hubspot']);
    expect((JSON.parse(r.out) as ReconcileReport).unmatched).toBeUndefined();
  });
});
