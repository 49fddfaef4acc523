/**
 * `npm run state` against dynalite: `show` prints a subject's desired keys (version, event), its index
 * and each connection's applied versions; `reset` releases a key stuck at a version from the future,
 * so the next event wins and every indexed connection is sent the key again. Exit codes as the other
 * tools: 0 done, 1 failure, 2 usage or configuration.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { desiredFor, planSync } from '#commons/domain/desired';
import { orderOf } from '#commons/domain/order';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { main, type SubjectState } from '../../../cli/state.ts';
import { startLocalDynamo, type LocalDynamo } from '../../../local/standins/dynamodb.ts';

const TABLE = 'state-cli';
const SUBJECT = 'tags:organization_id=acme';
const SF = { connectionId: '3b1f6a52-8e0c-4d1e-9f3a-5c2b7d9e1a01', providerConfigKey: 'salesforce' };
const HS = { connectionId: '3b1f6a52-8e0c-4d1e-9f3a-5c2b7d9e1a02', providerConfigKey: 'hubspot' };
const ev = (id: string, time: string) => ({ id, source: 'app.billing', detailType: 'customer.plan_changed', time });
/** A version from the future that slipped in: today it would lock the key until 2099. */
const STUCK = Date.parse('2099-01-01T00:00:00.000Z');
const NOW = Date.parse('2026-12-07T04:00:00.000Z');

let db: LocalDynamo;
let store: DynamoStateStore;
const capture = () => {
  let text = '';
  return { out: { write: (t: string) => void (text += t), isTTY: false }, text: () => text };
};
const run = async (argv: string[], env: NodeJS.ProcessEnv = { ...process.env, STATE_TABLE_NAME: TABLE }) => {
  const out = capture();
  const err = capture();
  const code = await main(argv, { out: out.out, err: err.out, env });
  return { code, out: out.text(), err: err.text() };
};

beforeAll(async () => {
  db = await startLocalDynamo();
  await db.createStateTable(TABLE);
  // The CLI builds its own client, as an operator's would: the SDK reads the endpoint from the environment.
  process.env.AWS_ENDPOINT_URL_DYNAMODB = db.endpoint;
  store = new DynamoStateStore(db.client(), TABLE);
  const stuck = orderOf(STUCK, 'stuck-1', 'enterprise');
  await store.writeDesired(SUBJECT, [
    { key: 'plan', value: 'enterprise', order: stuck, integrations: 'all', event: ev('stuck-1', '2099-01-01T00:00:00.000Z') },
    { key: 'seats', value: 10, order: orderOf(NOW, 'seats-1', 10), integrations: 'all', event: ev('seats-1', '2026-12-07T04:00:00.000Z') },
  ]);
  await store.replaceIndex(SUBJECT, [SF, HS], NOW);
  for (const t of [SF, HS]) await store.recordApplied(t, { plan: stuck, seats: orderOf(NOW, 'seats-1', 10) });
  await store.writeDesired('tags:organization_id=Acme%20', [
    {
      key: 'plan',
      value: 'pro',
      order: orderOf(NOW, 'lost-1', 'pro'),
      integrations: 'all',
      event: ev('lost-1', '2026-12-07T04:00:00.000Z'),
    },
  ]);
});
afterAll(() => db?.close());

describe('npm run state -- show', () => {
  it('--json: desired keys with version and event, the index, each connection applied versions', async () => {
    const r = await run(['show', 'organization_id=acme', '--json']);
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out) as SubjectState;
    expect(s.keys.map((k) => [k.key, k.value, k.version, k.event.id])).toEqual([
      ['plan', 'enterprise', STUCK, 'stuck-1'],
      ['seats', 10, NOW, 'seats-1'],
    ]);
    expect(s.index?.connections).toHaveLength(2);
    expect(s.index?.fetchedAt).toBe(new Date(NOW).toISOString());
    expect(s.connections.map((c) => [c.providerConfigKey, c.applied]).sort()).toEqual([
      ['hubspot', { plan: STUCK, seats: NOW }],
      ['salesforce', { plan: STUCK, seats: NOW }],
    ]);
    expect(s.noConnection).toBe(false);
  });

  it('for people, and a subject with state but no connection is flagged', async () => {
    const shown = await run(['show', 'organization_id=acme']);
    expect(shown.out).toMatch(/plan \[\*\] = "enterprise" {2}version 4070908800000 {2}by customer\.plan_changed stuck-1/);
    expect(shown.out).toContain(`${SF.connectionId} / salesforce: sent plan ${STUCK}, seats ${NOW}`);
    const lost = await run(['show', 'tags:organization_id=Acme%20']);
    expect(lost.code).toBe(0);
    expect(lost.out).toContain('holds state but no connection');
    // The subject it was meant for: same value but for case and a trailing space, with two connections.
    expect(lost.out).toContain(`near match: ${SUBJECT} (differs by case and spaces; 2 connections)`);
  });
});

describe('npm run state -- reset', () => {
  it('a stuck key: refused without --yes (2); with it, the next event wins and each connection is sent the key again', async () => {
    const next = {
      key: 'plan',
      value: 'pro',
      order: orderOf(NOW + 1000, 'now-1', 'pro'),
      integrations: 'all' as const,
      event: ev('now-1', '2026-12-07T04:00:01.000Z'),
    };
    // Before: the genuine change loses to the version from the future.
    expect((await store.writeDesired(SUBJECT, [next])).stale).toEqual(['plan']);

    const unconfirmed = await run(['reset', 'organization_id=acme', 'plan']);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.err).toMatch(/pass --yes/);

    const r = await run(['reset', 'organization_id=acme', 'plan', '--yes', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ subject: SUBJECT, key: 'plan', scopes: 1, connections: 2 });
    // The value stays until then, and seats is untouched.
    const shown = JSON.parse((await run(['show', 'organization_id=acme', '--json'])).out) as SubjectState;
    expect(shown.keys.find((k) => k.key === 'plan')).toMatchObject({ value: 'enterprise', reset: true, version: 0 });
    expect(shown.connections.every((c) => c.applied.plan === undefined && c.applied.seats === NOW)).toBe(true);

    // The next event wins, whatever its version, and every connection's next sync sends it.
    expect((await store.writeDesired(SUBJECT, [next])).written).toEqual(['plan']);
    const desired = desiredFor(await store.readDesired(SUBJECT), 'salesforce');
    for (const t of [SF, HS]) {
      const plan = planSync(desired, (await store.readApplied(t)).keys, false);
      expect(plan.patch).toEqual({ plan: 'pro' });
    }
  });

  it('a key stuck with others one event wrote: each connection is sent every key the reset released', async () => {
    const subject = 'tags:organization_id=grouped';
    const both = (id: string, version: number, plan: string, seats: number) =>
      (['plan', 'seats'] as const).map((key) => {
        const value = key === 'plan' ? plan : seats;
        return {
          key,
          value,
          order: orderOf(version, id, value),
          integrations: 'all' as const,
          event: ev(id, new Date(version).toISOString()),
        };
      });
    // One event wrote both keys (one key group) with a version from the future, and apply sent them.
    await store.writeDesired(subject, both('stuck-2', STUCK, 'enterprise', 50));
    await store.replaceIndex(subject, [SF], NOW);
    const sent = planSync(desiredFor(await store.readDesired(subject), 'salesforce'), {}, false);
    await store.recordApplied(SF, sent.applied);

    const r = await run(['reset', 'organization_id=grouped', 'plan', '--yes', '--json']);
    expect(r.code, r.err).toBe(0);
    // The next event of that type writes both keys again, below the stuck version: it wins for both.
    expect((await store.writeDesired(subject, both('now-2', NOW + 2000, 'pro', 12))).written.sort()).toEqual(['plan', 'seats']);
    const desired = desiredFor(await store.readDesired(subject), 'salesforce');
    expect(planSync(desired, (await store.readApplied(SF)).keys, false).patch).toEqual({ plan: 'pro', seats: 12 });
  });

  it('a key the subject does not hold: exit 1, nothing written', async () => {
    const r = await run(['reset', 'organization_id=acme', 'nope', '--yes']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('holds no key "nope"');
  });
});

describe('command line and configuration', () => {
  it.each([
    [['show'], /which subject/],
    [['frobnicate', 'organization_id=acme'], /expected "show" or "reset"/],
    [['reset', 'organization_id=acme'], /which key/],
    [['show', 'nonsense'], /expected tag=value/],
    [['show', 'organization_id=acme', '--bogus'], /Unknown option/],
  ])('%j exits 2', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('no table configured: exit 2 saying what is missing', async () => {
    const r = await run(['show', 'organization_id=acme'], { ...process.env, STATE_TABLE_NAME: '' });
    expect(r.code).toBe(2);
    expect(r.err).toContain('no state table');
  });

  it('a table that does not exist: exit 1', async () => {
    const r = await run(['show', 'organization_id=acme'], { ...process.env, STATE_TABLE_NAME: 'no-such-table' });
    expect(r.code).toBe(1);
  });

  it('--help prints usage and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: npm run state -- show SUBJECT/);
  });
});
