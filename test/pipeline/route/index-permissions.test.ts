/**
 * Route's connection lookup, over dynalite and the Nango stand-in, with every DynamoDB request it
 * sends recorded by command and partition-key prefix, and checked against what the construct grants
 * route on the table (TABLE_ACCESS, which becomes the role's `dynamodb:LeadingKeys` statements).
 * dynalite enforces no IAM: without this, a call the role may not make passes every local test and
 * fails only in AWS (AccessDenied, retried as a grant still propagating, then parked).
 *
 * The case: two route containers list one subject at about the same time, and the one whose clock
 * read came first writes last. Its replace is refused (a newer listing wrote the index), and it
 * merges what it found instead.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectOf } from '#commons/domain/subject';
import { HttpNangoClient } from '#commons/nango/http-client';
import { ConnectionIndex } from '#commons/route/connections';
import { staticKeyProvider } from '#commons/secrets';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { ITEM_PREFIXES, TABLE_ACCESS } from '../../../infra/construct/table.ts';
import { startLocalDynamo, type LocalDynamo } from '../../../local/standins/dynamodb.ts';
import { startNangoStandin, type NangoStandin } from '../../../local/standins/nango.ts';

const KEY = randomUUID();
const acme = subjectOf({ by: 'tags', tags: { organization_id: 'acme' }, integrations: 'all' });
const deadline = () => Date.now() + 10_000;

/** Whether TABLE_ACCESS lets `fn` send `command` for a partition key starting with `prefix`. */
function granted(fn: string, command: string, prefix: string): boolean {
  const action = command.replace(/Command$/, '');
  return (TABLE_ACCESS[fn] ?? []).some((g) => g.actions.includes(action as never) && g.items.some((i) => ITEM_PREFIXES[i] === prefix));
}

describe("route's index lookup uses only what route is granted", () => {
  let db: LocalDynamo;
  let nango: NangoStandin;
  const sent: { command: string; prefix: string }[] = [];

  beforeAll(async () => {
    db = await startLocalDynamo();
    await db.createStateTable('state');
    nango = await startNangoStandin({
      secretKey: KEY,
      connections: [{ connectionId: randomUUID(), providerConfigKey: 'salesforce', tags: { organization_id: 'acme' } }],
    });
  });
  afterAll(async () => {
    await nango.close();
    await db.close();
  });

  /** One route container: its own DynamoDB client (recorded), its own clock; its writes may wait for `writeAfter`. */
  function container(now: () => number, writeAfter?: Promise<unknown>): ConnectionIndex {
    const client = db.client();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: { pk?: unknown }; Item?: { pk?: unknown } };
        const raw = input.Key?.pk ?? input.Item?.pk;
        const pk = typeof raw === 'string' ? raw : (raw as { S?: string } | undefined)?.S;
        sent.push({ command: String(context.commandName), prefix: pk?.slice(0, 2) ?? '?' });
        if (writeAfter && /Put|Update|Delete/.test(String(context.commandName))) await writeAfter;
        return next(args);
      },
      { step: 'initialize', name: 'recordRequests' },
    );
    const state = new DynamoStateStore(client, 'state');
    const nangoClient = new HttpNangoClient({ host: nango.url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 5_000 });
    return new ConnectionIndex(state, nangoClient, { ttlMs: 0, emptyTtlMs: 0, maxConnections: 10, now });
  }

  it('two containers listing one subject: the later writer with the earlier clock merges, and may', async () => {
    const t = Date.now();
    let firstDone!: () => void;
    const done = new Promise<void>((r) => (firstDone = r));
    // Both read the (absent) index and list; the one with the earlier clock writes last.
    const late = container(() => t, done).connectionsOf(acme, deadline());
    const first = await container(() => t + 1_000).connectionsOf(acme, deadline());
    firstDone();
    const second = await late;
    expect(first.fromNango && second.fromNango).toBe(true);
    expect(second.targets).toEqual(first.targets);
    expect(sent.length).toBeGreaterThan(0);
    // The refused replace was followed by a merge.
    expect(sent.map((s) => s.command)).toContain('UpdateItemCommand');
    const refused = sent.filter((s) => !granted('route', s.command, s.prefix));
    expect(refused).toEqual([]);
  });
});
