/**
 * The sweep's walker (tick and one page per message) over fauxqs, dynalite and the Nango stand-in,
 * with every DynamoDB request counted: a run whose chain broke is resumed at the page it stopped on
 * once its lease lapsed (and not before); two ticks at once start one run; a page delivered twice is
 * listed once; a run over an unchanged fleet writes only its run item; the daily run reads a subject's
 * desired state once per page however many of its connections the page lists, and a catalog with no
 * connection-id event type reads (and indexes) no connection-id subject; an add past the subject cap
 * is refused and counted. `npm run reconcile -- --request-repair` makes the next tick start a run
 * with drift repair (the CLI's way to a fleet too large for its own process), `--status` shows it.
 */
import { randomUUID } from 'node:crypto';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectRules } from '#events/catalog';
import { HttpNangoClient } from '#commons/nango/http-client';
import { SqsQueues } from '#commons/queues';
import { staticKeyProvider } from '#commons/secrets';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { DynamoMembershipStore } from '#commons/state/membership';
import { runPage, type SweepDeps, type SweepMessage, sweepMessageSchema, tick } from '#commons/sweep/run';
import { startLocalDynamo, type LocalDynamo } from '../../local/standins/dynamodb.ts';
import { startNangoStandin, type NangoStandin } from '../../local/standins/nango.ts';
import { startLocalSqs, type LocalSqs, type PipelineQueues } from '../../local/standins/sqs.ts';

const KEY = randomUUID();
const PAGE = 10;
const LEASE_MS = 60_000;
/** 25 connections, 4 per customer (the last customer has 1): three pages of 10. */
const CONNECTIONS = Array.from({ length: 25 }, (_, i) => ({
  connectionId: `conn-${String(i).padStart(3, '0')}`,
  providerConfigKey: i % 2 ? 'salesforce' : 'hubspot',
  provider: 'x',
  tags: { organization_id: `org-${Math.floor(i / 4)}` },
}));
/** Nango (and the stand-in) list newest first. */
const customersOnPage = (page: number) =>
  new Set(
    [...CONNECTIONS]
      .reverse()
      .slice(page * PAGE, (page + 1) * PAGE)
      .map((c) => c.tags.organization_id),
  ).size;

let db: LocalDynamo;
let sqs: LocalSqs;
let queues: PipelineQueues;
let nango: NangoStandin;
/** DynamoDB requests by command, and the keys written (pk prefixes). */
const seen = { commands: [] as string[], writtenPks: [] as string[] };

function walker(o: { table: string; byConnectionId: boolean; maxConnections?: number }): SweepDeps {
  const client = db.client();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      seen.commands.push(String(context.commandName));
      // Marshalled or not, depending on where the document client's own middleware sits.
      const input = args.input as { Key?: { pk?: unknown }; Item?: { pk?: unknown } };
      const raw = input.Key?.pk ?? input.Item?.pk;
      const pk = typeof raw === 'string' ? raw : (raw as { S?: string } | undefined)?.S;
      if (/Put|Update|Delete/.test(String(context.commandName)) && pk) seen.writtenPks.push(pk.slice(0, 2));
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  const members = new DynamoMembershipStore(client, o.table);
  return {
    nango: new HttpNangoClient({ host: nango.url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 10_000 }),
    state: new DynamoStateStore(client, o.table, o.maxConnections),
    members,
    runs: members,
    queues: new SqsQueues(sqs.client()),
    syncQueueUrl: queues.syncUrl,
    sweepQueueUrl: queues.sweepUrl,
    intervalMs: 300_000,
    leaseMs: LEASE_MS,
    pageSize: PAGE,
    tagKeySets: subjectRules().tagKeySets,
    byConnectionId: o.byConnectionId,
  };
}

/** The next page message on the sweep queue, taken off it (as a successful invocation would). */
async function nextPage(): Promise<SweepMessage | undefined> {
  const r = await sqs.client().send(new ReceiveMessageCommand({ QueueUrl: queues.sweepUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 0 }));
  const m = r.Messages?.[0];
  if (!m) return undefined;
  await sqs.client().send(new DeleteMessageCommand({ QueueUrl: queues.sweepUrl, ReceiptHandle: m.ReceiptHandle! }));
  return sweepMessageSchema.parse(JSON.parse(m.Body!));
}

/** Runs the chain to its end; returns the pages listed. */
async function drain(deps: SweepDeps): Promise<number[]> {
  const pages: number[] = [];
  for (let m = await nextPage(); m; m = await nextPage()) {
    const out = await runPage(deps, m, Date.now() + 10_000);
    if (out.action !== 'skipped') pages.push(m.page);
  }
  return pages;
}

/** Every sync message on the sync queue, taken off it. */
async function takeSyncs(): Promise<{ reason: string; lookup?: boolean; target: { connectionId: string } }[]> {
  const out: { reason: string; lookup?: boolean; target: { connectionId: string } }[] = [];
  for (;;) {
    const r = await sqs.client().send(new ReceiveMessageCommand({ QueueUrl: queues.syncUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!r.Messages?.length) return out;
    for (const m of r.Messages) {
      out.push(JSON.parse(m.Body!));
      await sqs.client().send(new DeleteMessageCommand({ QueueUrl: queues.syncUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
}

const lists = (from: number) => nango.requests.slice(from).filter((r) => r.method === 'GET' && r.path === '/connections');
const count = (from: number, command: string) => seen.commands.slice(from).filter((c) => c === command).length;

beforeAll(async () => {
  db = await startLocalDynamo();
  await Promise.all(['byid', 'tags', 'capped', 'catalog'].map((t) => db.createStateTable(t)));
  sqs = await startLocalSqs();
  queues = await sqs.createPipelineQueues({ prefix: 'walker-' });
  nango = await startNangoStandin({ secretKey: KEY, connections: CONNECTIONS });
}, 60_000);
afterAll(async () => {
  await nango?.close();
  await sqs?.close();
  await db?.close();
});

describe('the sweep walker', () => {
  const deps = () => walker({ table: 'byid', byConnectionId: true });
  let d: SweepDeps;

  it('two ticks at once start one run; a page delivered twice is listed once', async () => {
    d = deps();
    const ticks = await Promise.all([tick(d, { repair: false }), tick(d, { repair: false })]);
    expect(ticks.map((t) => t.action).sort()).toEqual(['running', 'started']);
    const first = (await nextPage())!;
    expect(first.page).toBe(0);
    const from = nango.requests.length;
    const [a, b] = await Promise.all([runPage(d, first, Date.now() + 10_000), runPage(d, first, Date.now() + 10_000)]);
    expect([a.action, b.action].sort()).toEqual(['next', 'skipped']);
    expect(lists(from)).toHaveLength(1);
    // Once counted, a late duplicate is skipped too.
    expect((await runPage(d, first, Date.now() + 10_000)).action).toBe('skipped');
  });

  it('a broken chain is resumed at the page it stopped on once the lease lapsed, and not before', async () => {
    // Page 1's message is lost (parked in the DLQ, or the send after page 0 failed).
    expect((await nextPage())?.page).toBe(1);
    expect(await nextPage()).toBeUndefined();
    const stalled = await d.runs.readRun('index');
    expect(stalled).toMatchObject({ status: 'running', page: 1 });
    expect(await tick(d, { repair: false })).toMatchObject({ action: 'running' });
    const later = stalled!.leaseUntil + 1;
    expect(await tick(d, { repair: false, now: later })).toMatchObject({ action: 'resumed', page: 1 });
    // A second tick past the lapsed lease does not resume it twice.
    expect(await tick(d, { repair: false, now: later })).toMatchObject({ action: 'running' });
    const from = nango.requests.length;
    expect(await drain(d)).toEqual([1, 2]);
    expect(lists(from).map((r) => r.query?.page)).toEqual(['1', '2']);
    const run = await d.runs.readRun('index');
    expect(run).toMatchObject({ status: 'done', lastComplete: { pages: 3, counts: { pages: 3, listed: 25, added: 25 } } });
  });

  it('a run over an unchanged fleet writes its run item only, and reads membership in batches', async () => {
    const from = seen.commands.length;
    const wrote = seen.writtenPks.length;
    expect(await tick(d, { repair: false, now: Date.now() + 600_000 })).toMatchObject({ action: 'started' });
    expect(await drain(d)).toEqual([0, 1, 2]);
    expect((await d.runs.readRun('index'))?.lastComplete?.counts).toMatchObject({ listed: 25, unchanged: 25, indexWrites: 0 });
    expect(new Set(seen.writtenPks.slice(wrote))).toEqual(new Set(['R#']));
    // One BatchGet per page (10 connections), no desired-state read outside a repair run.
    expect(count(from, 'BatchGetItemCommand')).toBe(3);
    expect(count(from, 'QueryCommand')).toBe(0);
  });

  it("the daily run reads each subject's desired state once per page: the customer's, and each connection's own id", async () => {
    const from = seen.commands.length;
    expect(await tick(d, { repair: true, now: Date.now() + 1_200_000 })).toMatchObject({ action: 'started' });
    await drain(d);
    const customers = [0, 1, 2].reduce((n, p) => n + customersOnPage(p), 0);
    // org-3 spans pages 0 and 1, org-1 pages 1 and 2: read once on each. Read per connection, customers would cost 25.
    expect(customers).toBe(9);
    expect(count(from, 'QueryCommand')).toBe(customers + CONNECTIONS.length);
  });

  it('a catalog with no connection-id event type: no connection-id subject is indexed or read', async () => {
    const t = walker({ table: 'tags', byConnectionId: false });
    const wrote = seen.writtenPks.length;
    await tick(t, { repair: false });
    await drain(t);
    const added = (await t.runs.readRun('index'))?.lastComplete?.counts;
    // One index write per connection (its customer's), not two.
    expect(added).toMatchObject({ listed: 25, added: 25, indexWrites: 25 });
    expect(seen.writtenPks.slice(wrote).filter((p) => p === 'I#')).toHaveLength(25);
    const from = seen.commands.length;
    await tick(t, { repair: true, now: Date.now() + 600_000 });
    await drain(t);
    expect(count(from, 'QueryCommand')).toBe(9);
  });

  it('a catalog change that only adds subjects seeds without a lookup per connection; a re-tag still gets one', async () => {
    const before = walker({ table: 'catalog', byConnectionId: false });
    await tick(before, { repair: false });
    await drain(before);
    await takeSyncs();
    // The catalog gains a connection-id event type: every connection joins its `connection:<id>`
    // subject under the tags it was listed with. One connection is also re-tagged meanwhile.
    nango.retag('conn-000', 'hubspot', { organization_id: 'org-5' });
    try {
      const after = walker({ table: 'catalog', byConnectionId: true });
      expect(await tick(after, { repair: false, now: Date.now() + 600_000 })).toMatchObject({ action: 'started' });
      await drain(after);
      expect((await after.runs.readRun('index'))?.lastComplete?.counts).toMatchObject({ listed: 25, moved: 25, seeded: 25 });
      const seeds = (await takeSyncs()).filter((m) => m.reason === 'seed');
      expect(seeds).toHaveLength(25);
      // Apply reads Nango again only for the re-tagged one: not 25 list calls for a catalog deploy.
      expect(seeds.filter((m) => m.lookup).map((m) => m.target.connectionId)).toEqual(['conn-000']);
    } finally {
      nango.retag('conn-000', 'hubspot', { organization_id: 'org-0' });
    }
  });

  it('an add past the subject cap is refused and counted, the index kept at the cap', async () => {
    const t = walker({ table: 'capped', byConnectionId: false, maxConnections: 3 });
    await tick(t, { repair: false });
    await drain(t);
    // Six customers hold 4 connections each: one add refused for each.
    expect((await t.runs.readRun('index'))?.lastComplete?.counts).toMatchObject({ refused: 6 });
    const index = await (t.state as DynamoStateStore).readIndex('tags:organization_id=org-0');
    expect(index?.connections).toHaveLength(3);
  });

  it('`npm run reconcile -- --request-repair`: the next tick starts a run with drift repair, `--status` follows it', async () => {
    const t = walker({ table: 'tags', byConnectionId: false });
    const { main } = await import('../../cli/reconcile.ts');
    const saved = { ...process.env };
    // The CLI builds its own client from the environment, as against AWS.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
    const cli = async (args: string[]) => {
      let text = '';
      const code = await main(args, { env: { STATE_TABLE_NAME: 'tags' }, out: { write: (x: string) => void (text += x), isTTY: false } });
      return { code, text };
    };
    try {
      const asked = await cli(['--request-repair']);
      expect(asked.code).toBe(0);
      expect(asked.text).toContain('Drift repair requested');
      // Not due by the interval (the last run just ended): the request alone starts it.
      expect(await tick(t, { repair: false })).toMatchObject({ action: 'started' });
      const running = await cli(['--status', '--json']);
      expect(JSON.parse(running.text)).toMatchObject({ status: 'running', repair: true, repairRequested: false });
      await drain(t);
      expect(JSON.parse((await cli(['--status', '--json'])).text)).toMatchObject({
        status: 'done',
        lastComplete: { repair: true, pages: 3 },
      });
    } finally {
      for (const k of ['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });
});
