/**
 * The state store on DynamoDB (one table, `pk`/`sk` strings), through the document client:
 *
 *   S#<subject>  K#<scope>#@<group>  the keys one event type writes together, for one scope set (`*`
 *                                  = every integration, or the event's provider config keys, sorted,
 *                                  comma-joined; a digest `%...` when long): per key its value (JSON
 *                                  text) and order; the group's order, event, write time. (Items of one
 *                                  config key each, as 3.0 wrote them, and version 2's `K#<scope>#<key>`
 *                                  items of one key are still read.)
 *   I#<subject>  INDEX     the subject's known connections (a string set, at most MAX_INDEX_ENTRIES)
 *                          and when Nango was asked; its own partition so IAM can grant it apart
 *   C#<conn>     APPLIED   per key `k:<key>` = the order last sent to that connection and `s:<key>` =
 *                          the digest of the subject it came from; per subject `d:<subject>` = since
 *                          when apply has left its keys to a later sync, and `u:<subject>` = when
 *                          the settle sync queued for that wait is due
 *
 * Every write is a single-item conditional or additive update: no transactions (dynalite has none,
 * and none is needed). Items stay far below 400 KB: a key group holds the values of one event
 * (events are at most 256 KiB), an index at most MAX_CONNECTIONS_PER_SUBJECT entries of ~300 bytes,
 * an applied item one order per key (about 90 bytes; up to 1.6 KB for a 256-character id escaped).
 */
import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Json } from '#events/define';
import type { DesiredKey } from '../domain/desired.ts';
import { FLOOR_ORDER, groupOrderOf, isSameWrite } from '../domain/order.ts';
import { sendIfCondition } from './conditional.ts';
import { connectionKey, type EventRef, type Target } from '../sync/message.ts';
import { attributeBytes, MAX_INDEX_ENTRIES } from './limits.ts';
import { MAX_SCOPE_NAME, SCOPE_SEPARATOR, scopeSets } from './scope.ts';
import type { AppliedProvenance, AppliedState, IndexEntry, KeyWrite, StatePort, WriteOutcome } from './port.ts';

const subjectPk = (subject: string) => `S#${subject}`;
const indexPk = (subject: string) => `I#${subject}`;
const KEY_PREFIX = 'K#';
/** Marks a key group's sort key (`K#<scope>#@<digest>`) apart from version 2's `K#<scope>#<key>`. */
const GROUP_MARK = '@';
/** Provider config keys never contain `*` or `#`. */
const ALL_SCOPE = '*';
const INDEX_SK = 'INDEX';
const APPLIED_SK = 'APPLIED';
const APPLIED_ATTR = 'k:';
/** An index written by a listing asked for at `:f` or later stays. */
const NEWER_LISTING = 'attribute_not_exists(fetchedAt) OR fetchedAt < :f';
const DEFERRED_ATTR = 'd:';
const SOURCE_ATTR = 's:';
const SETTLE_ATTR = 'u:';
const SENT_AT = 'sentAt';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

const encodeTarget = (t: Target) => JSON.stringify([t.providerConfigKey, t.connectionId]);
function decodeTarget(s: string): Target | undefined {
  try {
    const [providerConfigKey, connectionId] = JSON.parse(s) as [unknown, unknown];
    return typeof providerConfigKey === 'string' && typeof connectionId === 'string' ? { providerConfigKey, connectionId } : undefined;
  } catch {
    return undefined;
  }
}

export class DynamoStateStore implements StatePort {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
    /** Adds past this many connections in one index are refused (the item must fit at the longest ids). */
    private readonly maxIndexEntries = MAX_INDEX_ENTRIES,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  /**
   * One item per key group (the keys one event type writes together) and scope set (`*` = every
   * integration, or the event's integrations, sorted): one conditional put per event. A value meant
   * for some integrations never replaces the value another scope set holds (a later `region` for
   * salesforce leaves the item of salesforce and hubspot as it was), and keys another event type
   * writes live in that type's items: readers take, per connection and key, the newest order among
   * the items whose scope holds the connection's integration. A key counts as written when any of its
   * items took it.
   */
  async writeDesired(subject: string, writes: readonly KeyWrite[]): Promise<WriteOutcome> {
    const now = Date.now();
    const out: WriteOutcome = { written: [], stale: [], at: now };
    const groups = new Map<string, KeyWrite[]>();
    for (const w of writes) {
      const g = JSON.stringify([w.integrations, w.event.source, w.event.detailType, w.event.id]);
      groups.set(g, [...(groups.get(g) ?? []), w]);
    }
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const first = group[0]!;
        const scopes = first.integrations === 'all' ? [ALL_SCOPE] : scopeSets(first.integrations);
        const took = await Promise.all(scopes.map((scope) => this.putGroup(subject, group, scope, now)));
        for (const w of group) (took.some((t) => t !== undefined) ? out.written : out.stale).push(w.key);
        for (const t of took) if (t !== undefined) out.at = Math.max(out.at, t);
      }),
    );
    return out;
  }

  /** The write time the item holds once this write counts (this one's, or an earlier attempt's); undefined when stale. */
  private async putGroup(subject: string, group: readonly KeyWrite[], scope: string, at: number): Promise<number | undefined> {
    const first = group[0]!;
    const keys = group.map((w) => w.key).sort();
    // A long scope set is named by its digest (a sort key holds 1,024 bytes); the item keeps it whole.
    const scopeName = scope.length <= MAX_SCOPE_NAME ? scope : `%${sha256(scope).slice(0, 32)}`;
    const sk = `${KEY_PREFIX}${scopeName}#${GROUP_MARK}${sha256(JSON.stringify([first.event.source, first.event.detailType, keys])).slice(0, 32)}`;
    // The item is accepted or refused whole, so each key takes the group's order (groupOrderOf).
    const ord = groupOrderOf(group);
    const stored = await this.ifCondition(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: subjectPk(subject),
          sk,
          subject,
          scope,
          // key -> [value as JSON text, the group's order]
          keys: JSON.stringify(Object.fromEntries(group.map((w) => [w.key, [JSON.stringify(w.value), ord]]))),
          ord,
          event: first.event,
          at,
        },
        ConditionExpression: 'attribute_not_exists(ord) OR ord < :ord',
        ExpressionAttributeValues: { ':ord': ord },
      }),
    );
    if (stored) return at;
    // An equal order is this very write again (a retried record, or the same event delivered twice; also
    // as an earlier release stored it, see isSameWrite): it counts as written, so its syncs are sent
    // again, and the item keeps the write time it has, which the syncs' queue time must not precede.
    // (dynalite has no ReturnValuesOnConditionCheckFailure, hence the read; it costs only for stale or
    // repeated writes.)
    const held = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: subjectPk(subject), sk },
        ConsistentRead: true,
        ProjectionExpression: 'ord, #at',
        ExpressionAttributeNames: { '#at': 'at' },
      }),
    );
    if (typeof held.Item?.ord !== 'string' || !isSameWrite(held.Item.ord, ord)) return undefined;
    return typeof held.Item.at === 'number' ? held.Item.at : 0;
  }

  async readDesired(subject: string): Promise<DesiredKey[]> {
    const out: DesiredKey[] = [];
    for (const item of await this.desiredItems(subject)) {
      // A scope set (version 3.1) or one provider config key (earlier items): config keys hold no comma.
      const integrations = item.scope === ALL_SCOPE ? 'all' : String(item.scope).split(SCOPE_SEPARATOR);
      const event = item.event as EventRef;
      // Items stored before write times were kept read as written at 0: never taken for a later rewrite.
      const writtenAt = typeof item.at === 'number' ? item.at : 0;
      if (typeof item.keys === 'string') {
        const keys = JSON.parse(item.keys) as Record<string, [string, string]>;
        for (const [key, [value, order]] of Object.entries(keys))
          out.push({ subject, key, value: JSON.parse(value) as Json, order, integrations, event, writtenAt });
      } else {
        // An item of one key, as version 2 wrote them.
        const value = JSON.parse(String(item.value)) as Json;
        out.push({ subject, key: String(item.key), value, order: String(item.ord), integrations, event, writtenAt });
      }
    }
    return out;
  }

  /** Every desired item of a subject (key groups and version 2's one-key items), strongly consistent. */
  private async desiredItems(subject: string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :k)',
          ExpressionAttributeValues: { ':pk': subjectPk(subject), ':k': KEY_PREFIX },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      out.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async readApplied(target: Target): Promise<AppliedState> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: `C#${connectionKey(target)}`, sk: APPLIED_SK }, ConsistentRead: true }),
    );
    const keys: Record<string, string> = {};
    const deferredSince: Record<string, number> = {};
    const sources: Record<string, string> = {};
    const settleDue: Record<string, number> = {};
    let bytes = 0;
    for (const [k, v] of Object.entries(res.Item ?? {})) {
      bytes += attributeBytes(k, v);
      if (k.startsWith(APPLIED_ATTR)) keys[k.slice(APPLIED_ATTR.length)] = String(v);
      else if (k.startsWith(SOURCE_ATTR)) sources[k.slice(SOURCE_ATTR.length)] = String(v);
      else if (k.startsWith(DEFERRED_ATTR) && typeof v === 'number') deferredSince[k.slice(DEFERRED_ATTR.length)] = v;
      else if (k.startsWith(SETTLE_ATTR) && typeof v === 'number') settleDue[k.slice(SETTLE_ATTR.length)] = v;
    }
    const sentAt = typeof res.Item?.[SENT_AT] === 'number' ? { sentAt: res.Item[SENT_AT] as number } : {};
    return { keys, deferredSince, ...(Object.keys(settleDue).length ? { settleDue } : {}), ...sentAt, sources, bytes };
  }

  async markDeferred(
    target: Target,
    subjects: readonly string[],
    at: number,
    settle: { subjects: readonly string[]; due: number } = { subjects: [], due: 0 },
  ): Promise<void> {
    if (subjects.length === 0 && settle.subjects.length === 0) return;
    const names: Record<string, string> = { '#c': 'connectionId', '#p': 'providerConfigKey' };
    const sets = ['#c = :c', '#p = :p'];
    subjects.forEach((s, i) => {
      names[`#d${i}`] = `${DEFERRED_ATTR}${s}`;
      sets.push(`#d${i} = if_not_exists(#d${i}, :at)`);
    });
    settle.subjects.forEach((s, i) => {
      names[`#u${i}`] = `${SETTLE_ATTR}${s}`;
      sets.push(`#u${i} = :due`);
    });
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `C#${connectionKey(target)}`, sk: APPLIED_SK },
        UpdateExpression: `SET ${sets.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ':c': target.connectionId,
          ':p': target.providerConfigKey,
          ...(subjects.length ? { ':at': at } : {}),
          ...(settle.subjects.length ? { ':due': settle.due } : {}),
        },
      }),
    );
  }

  async recordApplied(
    target: Target,
    applied: Readonly<Record<string, string>>,
    subjects: readonly string[] = [],
    provenance: AppliedProvenance = {},
  ): Promise<void> {
    const entries = Object.entries(applied);
    const sources = provenance.sources ?? {};
    const cleared = provenance.cleared ?? [];
    if (entries.length === 0 && subjects.length === 0 && cleared.length === 0) return;
    // Keys set to null because their subject was left: neither order nor source is kept.
    if (cleared.length) await this.forgetKeys(target, cleared);
    // An update expression is limited to 4 KB: at most 100 keys per update. With no key, one update ends the waits.
    for (let from = 0; from === 0 || from < entries.length; from += 50) {
      const names: Record<string, string> = { '#c': 'connectionId', '#p': 'providerConfigKey' };
      const values: Record<string, unknown> = { ':c': target.connectionId, ':p': target.providerConfigKey };
      const sets = ['#c = :c', '#p = :p'];
      if (from === 0 && entries.length) {
        names['#sent'] = SENT_AT;
        values[':sent'] = Date.now();
        sets.push('#sent = :sent');
      }
      // 50 keys per update: each may carry its source too.
      entries.slice(from, from + 50).forEach(([key, order], i) => {
        names[`#k${i}`] = `${APPLIED_ATTR}${key}`;
        values[`:k${i}`] = order;
        sets.push(`#k${i} = :k${i}`);
        const source = sources[key];
        if (source !== undefined) {
          names[`#s${i}`] = `${SOURCE_ATTR}${key}`;
          values[`:s${i}`] = source;
          sets.push(`#s${i} = :s${i}`);
        }
      });
      // The subjects read for this PATCH no longer wait: their keys have just been sent.
      const removes =
        from === 0
          ? subjects.flatMap((s, i) => {
              names[`#d${i}`] = `${DEFERRED_ATTR}${s}`;
              names[`#u${i}`] = `${SETTLE_ATTR}${s}`;
              return [`#d${i}`, `#u${i}`];
            })
          : [];
      const remove = removes.length ? ` REMOVE ${removes.join(', ')}` : '';
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `C#${connectionKey(target)}`, sk: APPLIED_SK },
          UpdateExpression: `SET ${sets.join(', ')}${remove}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    }
  }

  private async forgetKeys(target: Target, keys: readonly string[]): Promise<void> {
    for (let from = 0; from < keys.length; from += 50) {
      const names: Record<string, string> = {};
      const removes = keys.slice(from, from + 50).flatMap((key, i) => {
        names[`#k${i}`] = `${APPLIED_ATTR}${key}`;
        names[`#s${i}`] = `${SOURCE_ATTR}${key}`;
        return [`#k${i}`, `#s${i}`];
      });
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `C#${connectionKey(target)}`, sk: APPLIED_SK },
          UpdateExpression: `REMOVE ${removes.join(', ')}`,
          ExpressionAttributeNames: names,
        }),
      );
    }
  }

  /** A connection Nango no longer has: what it was sent is forgotten, so one re-created with the same id gets everything. */
  async forgetApplied(target: Target): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk: `C#${connectionKey(target)}`, sk: APPLIED_SK } }));
  }

  async readIndex(subject: string): Promise<IndexEntry | undefined> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: indexPk(subject), sk: INDEX_SK }, ConsistentRead: true }),
    );
    if (!res.Item) return undefined;
    const set = res.Item.conns as Set<string> | undefined;
    const connections = [...(set ?? [])].map(decodeTarget).filter((t): t is Target => t !== undefined);
    const refusedAt = typeof res.Item.refusedAt === 'number' ? res.Item.refusedAt : undefined;
    return {
      connections,
      fetchedAt: typeof res.Item.fetchedAt === 'number' ? res.Item.fetchedAt : undefined,
      ...(refusedAt ? { refusedAt } : {}),
    };
  }

  async replaceIndex(subject: string, connections: readonly Target[], fetchedAt: number, listedSince = fetchedAt): Promise<void> {
    const conns = connections.length ? { conns: new Set(connections.map(encodeTarget)) } : {};
    // A listing never replaces a newer one (a long reconcile beside route's lookups).
    // DynamoDB refuses empty sets: an empty index is an item without `conns`. The list replaces the
    // index only if no webhook added a connection since the list was asked for, and no newer listing
    // (a long reconcile beside route's lookups) wrote it.
    const replaced = await this.ifCondition(
      new PutCommand({
        TableName: this.table,
        Item: { pk: indexPk(subject), sk: INDEX_SK, subject, fetchedAt, ...conns },
        ConditionExpression: `(${NEWER_LISTING}) AND (attribute_not_exists(addedAt) OR addedAt < :since)`,
        ExpressionAttributeValues: { ':since': listedSince, ':f': fetchedAt },
      }),
    );
    // A connection was added meanwhile (its webhook): keep it, and add what the list found.
    if (!replaced) await this.mergeIndex(subject, connections, fetchedAt);
  }

  async mergeIndex(subject: string, connections: readonly Target[], fetchedAt: number): Promise<void> {
    const add = connections.length ? { ':c': new Set(connections.map(encodeTarget)) } : {};
    await this.ifCondition(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: indexPk(subject), sk: INDEX_SK },
        UpdateExpression: `${connections.length ? 'ADD conns :c ' : ''}SET subject = :s, fetchedAt = :f`,
        // A newer listing (route's own lookup) knows better, removals included.
        // A merge that could pass the cap is not made: route then asks Nango, which refuses the subject.
        ConditionExpression: `(${NEWER_LISTING}) AND (attribute_not_exists(conns) OR size(conns) <= :room)`,
        ExpressionAttributeValues: { ...add, ':s': subject, ':f': fetchedAt, ':room': this.maxIndexEntries - connections.length },
      }),
    );
  }

  async addToIndex(subject: string, target: Target): Promise<boolean> {
    // Refused past the cap (the item must fit at the longest ids); an entry already there is no add.
    const added = await this.ifCondition(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: indexPk(subject), sk: INDEX_SK },
        UpdateExpression: 'ADD conns :c SET subject = :s, addedAt = :now',
        ConditionExpression: 'attribute_not_exists(conns) OR size(conns) < :max OR contains(conns, :e)',
        ExpressionAttributeValues: {
          ':c': new Set([encodeTarget(target)]),
          ':e': encodeTarget(target),
          ':s': subject,
          ':now': Date.now(),
          ':max': this.maxIndexEntries,
        },
      }),
    );
    // The index now lacks a member: marked, so route stops trusting it (a listing then refuses the
    // subject, or, once it fits again, replaces the index whole, which clears the mark).
    if (!added) {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: indexPk(subject), sk: INDEX_SK },
          UpdateExpression: 'SET refusedAt = :now',
          ExpressionAttributeValues: { ':now': Date.now() },
        }),
      );
    }
    return added;
  }

  async removeFromIndex(subject: string, target: Target): Promise<void> {
    await this.ifCondition(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: indexPk(subject), sk: INDEX_SK },
        UpdateExpression: 'DELETE conns :c',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':c': new Set([encodeTarget(target)]) },
      }),
    );
  }

  /**
   * A key group holds the keys one event wrote, all at that event's version: a version stuck in one
   * of them is stuck in all, so the whole group is released (the next event of its type wins).
   */
  async resetDesiredKey(subject: string, key: string): Promise<{ scopes: number; keys: string[] }> {
    let reset = 0;
    const released = new Set<string>([key]);
    for (const item of await this.desiredItems(subject)) {
      const names: Record<string, string> = {};
      const values: Record<string, unknown> = { ':floor': FLOOR_ORDER, ':now': Date.now() };
      let set = 'ord = :floor, resetAt = :now';
      if (typeof item.keys === 'string') {
        const keys = JSON.parse(item.keys) as Record<string, [string, string]>;
        if (!Object.hasOwn(keys, key)) continue;
        for (const k of Object.keys(keys)) {
          keys[k]![1] = FLOOR_ORDER;
          released.add(k);
        }
        names['#keys'] = 'keys';
        values[':keys'] = JSON.stringify(keys);
        set += ', #keys = :keys';
      } else if (item.key !== key) continue;
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: item.pk, sk: item.sk },
          UpdateExpression: `SET ${set}`,
          ConditionExpression: 'attribute_exists(pk)',
          ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
          ExpressionAttributeValues: values,
        }),
      );
      reset++;
    }
    return { scopes: reset, keys: reset ? [...released] : [] };
  }

  async forgetAppliedKey(target: Target, key: string): Promise<void> {
    await this.ifCondition(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `C#${connectionKey(target)}`, sk: APPLIED_SK },
        UpdateExpression: 'REMOVE #k',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#k': `${APPLIED_ATTR}${key}` },
      }),
    );
  }

  async subjectsWithState(): Promise<string[]> {
    const subjects = new Set<string>();
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'begins_with(pk, :s) AND begins_with(sk, :k)',
          ProjectionExpression: '#subject',
          ExpressionAttributeNames: { '#subject': 'subject' },
          ExpressionAttributeValues: { ':s': 'S#', ':k': KEY_PREFIX },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) if (typeof item.subject === 'string') subjects.add(item.subject);
      start = page.LastEvaluatedKey;
    } while (start);
    return [...subjects];
  }

  private ifCondition(command: PutCommand | UpdateCommand): Promise<boolean> {
    return sendIfCondition(this.doc, command);
  }
}
