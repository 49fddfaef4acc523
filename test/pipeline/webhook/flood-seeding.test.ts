/**
 * Seeding survives a flood of the webhook's public URL: while unsigned and wrongly signed requests
 * hold the function URL at its cap (reserved concurrency 5: 5 at once, 50 a second, 429 past
 * either, as Lambda's function URLs answer), connections are created in the Nango stand-in and
 * their auth webhooks are throttled away (Nango retries twice, then gives up). The sweep, ticked as
 * its schedule does, finds every one of them and seeds it within the sweep interval plus a run.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../../local/pipeline.ts';
import type { SeedConnection } from '../../../local/standins/nango.ts';
import { authWebhookBody } from '../../../local/standins/nango/webhooks.ts';
import { planChanged } from '../../support/events.ts';

const KEY = randomUUID();
const CAP = 5;
/** The smallest interval the functions accept; ticks stand in for the minute schedule. */
const INTERVAL_SECONDS = 60;
const TICK_MS = 1_000;
/** Flood rate, well above the URL's 10 x CAP a second: the cap is what the flood holds. */
const FLOOD_PER_SECOND = 400;
const FLOOD_WORKERS = 10;
const CREATED = 16;
const CREATE_EVERY_MS = 1_500;
const PLANS = ['free', 'starter', 'pro', 'enterprise'];
const ORGS = PLANS.length;
const AT = new Date(Date.now() - 60_000).toISOString();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let p: LocalPipeline;
beforeAll(async () => {
  p = await startLocalPipeline({
    nangoSecretKey: KEY,
    connections: [],
    webhookReservedConcurrency: CAP,
    env: { INDEX_SWEEP_SECONDS: String(INTERVAL_SECONDS) },
  });
  await p.send(Array.from({ length: ORGS }, (_, i) => planChanged(`flood-${i}`, PLANS[i]!, AT)));
  await p.drain({ quietMs: 200 });
}, 60_000);
afterAll(() => p?.stop());

describe('a flood of the webhook URL', () => {
  it('cannot starve seeding: the sweep seeds every connection created during it within the interval plus a run', async () => {
    const started = Date.now();
    const statuses: Record<number, number> = {};
    let flooding = true;
    const agent = new Agent({ connections: FLOOD_WORKERS });
    // Unsigned, or signed with a wrong key (a well-formed signature: the costlier reject).
    const body = JSON.stringify(authWebhookBody({ connectionId: 'attacker', providerConfigKey: 'salesforce' }, 'creation'));
    const worker = async (w: number) => {
      const gap = (1_000 * FLOOD_WORKERS) / FLOOD_PER_SECOND;
      for (let i = 0; flooding; i++) {
        const t = Date.now();
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if ((w + i) % 2) headers['x-nango-hmac-sha256'] = randomBytes(32).toString('hex');
        try {
          const res = await request(p.webhook.url, { method: 'POST', headers, body, dispatcher: agent });
          await res.body.dump();
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        } catch {
          statuses[0] = (statuses[0] ?? 0) + 1;
        }
        await sleep(Math.max(0, gap - (Date.now() - t)));
      }
    };
    const flood = Array.from({ length: FLOOD_WORKERS }, (_, w) => worker(w));

    // The schedule: a tick every (scaled) minute; a run starts when the interval is due.
    const runs: { started: number; action: string }[] = [];
    let ticking = true;
    let longestRunMs = 0;
    const ticker = (async () => {
      while (ticking) {
        const t = await p.sweep(false);
        if (t.action === 'started') runs.push({ started: Date.now(), action: String(t.action) });
        const done = (await p.members.readRun('index'))?.lastComplete;
        if (done) longestRunMs = Math.max(longestRunMs, done.endedAt - done.startedAt);
        await sleep(TICK_MS);
      }
    })();

    const created: { c: SeedConnection; at: number }[] = [];
    for (let i = 0; i < CREATED; i++) {
      const c: SeedConnection = {
        connectionId: randomUUID(),
        providerConfigKey: 'salesforce',
        provider: 'salesforce',
        tags: { organization_id: `flood-${i % ORGS}` },
      };
      p.nango!.createConnection(c);
      created.push({ c, at: Date.now() });
      await sleep(CREATE_EVERY_MS);
    }

    const seededAt = (x: { c: SeedConnection }) => {
      const h = p.nango!.applyHistory(x.c.connectionId, x.c.providerConfigKey).find((w) => w.after.plan !== undefined);
      return h?.at;
    };
    const bound = INTERVAL_SECONDS * 1_000;
    const lastCreated = created.at(-1)!.at;
    // Wait (still flooded) until every connection is seeded or the bound has passed for the last one, plus a run.
    while (created.some((x) => seededAt(x) === undefined) && Date.now() - lastCreated < bound + 30_000) await sleep(250);
    flooding = false;
    ticking = false;
    await Promise.all([...flood, ticker]);
    await agent.close();
    await p.drain({ quietMs: 200 });
    const floodSeconds = (Date.now() - started) / 1_000;

    const runMs = longestRunMs;
    const waits = created.map((x) => (seededAt(x) ?? Number.POSITIVE_INFINITY) - x.at);
    const deliveries = p.nango!.webhookDeliveries();
    const throttledAway = deliveries.filter((d) => d.delivered === false && d.attempts.every((a) => a.status === 429)).length;
    const requests = Object.values(statuses).reduce((a, b) => a + b, 0);
    const seeded = waits.filter(Number.isFinite).length;
    // Those whose every attempt was throttled were found by the sweep: a seed it enqueued (no lookup).
    const lost = created.filter((x) => deliveries.some((d) => d.body.connectionId === x.c.connectionId && d.delivered === false));
    const sweptSeeds = new Set(
      p
        .syncs()
        .filter((s) => s.message?.reason === 'seed' && s.message.lookup !== true)
        .map((s) => s.message!.target.connectionId),
    );
    const lostWaits = lost.map((x) => (seededAt(x) ?? Number.POSITIVE_INFINITY) - x.at);
    console.log(
      [
        '== webhook flood ==',
        `flood: ${requests} requests in ${floodSeconds.toFixed(1)} s (${(requests / floodSeconds).toFixed(0)}/s), by status ${JSON.stringify(statuses)}`,
        `URL throttled (429) ${p.webhook.throttled()} in all`,
        `connections created ${created.length}; auth webhooks delivered ${deliveries.filter((d) => d.delivered).length}, throttled away ${throttledAway}`,
        `sweep runs started ${runs.length}; longest run ${runMs} ms`,
        `seeded ${seeded}/${created.length}; longest wait ${(Math.max(...waits) / 1_000).toFixed(1)} s (bound ${INTERVAL_SECONDS} s + a run); of the webhooks throttled away, longest ${(Math.max(0, ...lostWaits) / 1_000).toFixed(1)} s`,
      ].join('\n'),
    );

    // The flood really held the cap: genuine deliveries were refused, some of them for good.
    expect(requests / floodSeconds).toBeGreaterThan(10 * CAP);
    expect(statuses[429] ?? 0).toBeGreaterThan(0);
    expect(statuses[401] ?? 0).toBeGreaterThan(0);
    expect(throttledAway, 'no webhook was throttled away: the sweep was never needed').toBeGreaterThan(0);
    // Every connection seeded with its customer's state, within the interval plus a run.
    expect(seeded).toBe(created.length);
    for (const x of lost) expect(sweptSeeds.has(x.c.connectionId), `${x.c.connectionId} was not seeded by the sweep`).toBe(true);
    for (const x of created) {
      expect(p.nango!.metadataOf(x.c.connectionId, 'salesforce')).toMatchObject({
        plan: PLANS[Number(x.c.tags!.organization_id!.slice(6))],
      });
    }
    expect(Math.max(...waits)).toBeLessThanOrEqual(bound + runMs + 5_000);
  }, 180_000);
});
