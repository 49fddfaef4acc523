/**
 * The state store on DynamoDB (one table, `pk`/`sk` strings), through the document client:
 *
 *   S#<subject>  K#<scope>#<key>   one desired key for one scope (`*` = every integration, or one
 *                                  provider config key): value (JSON text), order, event, write time
 *   I#<subject>  INDEX     the subject's known connections (a string set, at most MAX_INDEX_ENTRIES)
 *                          and when Nango was asked; its own partition so IAM can grant it apart
 *   C#<conn>     APPLIED   per key `k:<key>` = the order last sent to that connection and `s:<key>` =
 *                          the digest of the subject it came from; per subject `d:<subject>` = since
 *                          when apply has left its keys to a later sync
 *
 * Every write is a single-item conditional or additive update: no transactions (dynalite has none,
 * and none is needed). Items stay far below 400 KB: a desired key holds one value of one event
 * (events are at most 256 KiB), an index at most MAX_CONNECTIONS_PER_SUBJECT entries of ~300 bytes,
 * an applied item one order (~90 bytes) per key.
 */
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
import { FLOOR_ORDER } from '../domain/order.ts';
import { connectionKey, type EventRef, type Target } from '../sync/message.ts';
import { attributeBytes, MAX_INDEX_ENTRIES } from './limits.ts';
import type { AppliedProvenance, AppliedState, IndexEntry, KeyWrite, StatePort, WriteOutcome } from './port.ts';

const subjectPk = (subject: string) => `S#${subject}`;
const indexPk = (subject: string) => `I#${subject}`;
const KEY_PREFIX = 'K#';
/** Provider config keys never contain `*` or `#`. */
const ALL_SCOPE = '*';
const INDEX_SK = 'INDEX';
const APPLIED_SK = 'APPLIED';
const APPLIED_ATTR = 'k:';
/** An index written by a listing asked for at `:f` or later stays. */
const NEWER_LISTING = 'attribute_not_exists(fetchedAt) OR fetchedAt < :f';
const DEFERRED_ATTR = 'd:';
const SOURCE_ATTR = 's:';

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
   * One item per key and scope: a value meant for some integrations never replaces the value another
   * scope holds (a later `region` for salesforce leaves hubspot's). A key write counts as written when
   * any of its scopes took it.
   */
  async writeDesired(subject: string, writes: readonly KeyWrite[]): Promise<WriteOutcome> {
    const now = Date.now();
    const out: WriteOutcome = { written: [], stale: [], at: now };
    await Promise.all(
      writes.map(async (w) => {
        const scopes = w.integrations === 'all' ? [ALL_SCOPE] : w.integrations;
        const took = await Promise.all(scopes.map((scope) => this.putKey(subject, w, scope, now)));
        (took.some((t) => t !== undefined) ? out.written : out.stale).push(w.key);
        for (const t of took) if (t !== undefined) out.at = Math.max(out.at, t);
      }),
    );
    return out;
  }

  /** The write time the item holds once this write counts (this one's, or an earlier attempt's); undefined when stale. */
  private async putKey(subject: string, w: KeyWrite, scope: string, at: number): Promise<number | undefined> {
    const sk = `${KEY_PREFIX}${scope}#${w.key}`;
    const stored = await this.ifCondition(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: subjectPk(subject),
          sk,
          subject,
          key: w.key,
          scope,
          value: JSON.stringify(w.value),
          ord: w.order,
          event: w.event,
          at,
        },
        ConditionExpression: 'attribute_not_exists(ord) OR ord < :ord',
        ExpressionAttributeValues: { ':ord': w.order },
      }),
    );
    if (stored) return at;
    // An equal order is this very write again (a retried record, or the same event delivered twice): it
    // counts as written, so its syncs are sent again, and the item keeps the write time it has, which the
    // syncs' queue time must not precede. (dynalite has no ReturnValuesOnConditionCheckFailure, hence the
    // read; it costs only for stale or repeated writes.)
    const held = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: subjectPk(subject), sk },
        ConsistentRead: true,
        ProjectionExpression: 'ord, #at',
        ExpressionAttributeNames: { '#at': 'at' },
      }),
    );
    if (held.Item?.ord !== w.order) return undefined;
    return typeof held.Item.at === 'number' ? held.Item.at : 0;
  }

  async readDesired(subject: string): Promise<DesiredKey[]> {
    const out: DesiredKey[] = [];
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
      for (const item of page.Items ?? []) {
        out.push({
          subject,
          key: String(item.key),
          value: JSON.parse(String(item.value)) as Json,
          order: String(item.ord),
          integrations: item.scope === ALL_SCOPE ? 'all' : [String(item.scope)],
          event: item.event as EventRef,
          // Items stored before write times were kept read as written at 0: never taken for a later rewrite.
          writtenAt: typeof item.at === 'number' ? item.at : 0,
        });
      }
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
    let bytes = 0;
    for (const [k, v] of Object.entries(res.Item ?? {})) {
      bytes += attributeBytes(k, v);
      if (k.startsWith(APPLIED_ATTR)) keys[k.slice(APPLIED_ATTR.length)] = String(v);
      else if (k.startsWith(SOURCE_ATTR)) sources[k.slice(SOURCE_ATTR.length)] = String(v);
      else if (k.startsWith(DEFERRED_ATTR) && typeof v === 'number') deferredSince[k.slice(DEFERRED_ATTR.length)] = v;
    }
    return { keys, deferredSince, sources, bytes };
  }

  async markDeferred(target: Target, subjects: readonly string[], at: number): Promise<void> {
    if (subjects.length === 0) return;
    const names: Record<string, string> = { '#c': 'connectionId', '#p': 'providerConfigKey' };
    const sets = ['#c = :c', '#p = :p'];
    subjects.forEach((s, i) => {
      names[`#d${i}`] = `${DEFERRED_ATTR}${s}`;
      sets.push(`#d${i} = if_not_exists(#d${i}, :at)`);
    });
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `C#${connectionKey(target)}`, sk: APPLIED_SK },
        UpdateExpression: `SET ${sets.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ':at': at, ':c': target.connectionId, ':p': target.providerConfigKey },
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
          ? subjects.map((s, i) => {
              names[`#d${i}`] = `${DEFERRED_ATTR}${s}`;
              return `#d${i}`;
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
    return { connections, fetchedAt: typeof res.Item.fetchedAt === 'number' ? res.Item.fetchedAt : undefined };
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

  async resetDesiredKey(subject: string, key: string): Promise<number> {
    const scopes = (await this.readDesired(subject)).filter((d) => d.key === key);
    for (const d of scopes) {
      const scope = d.integrations === 'all' ? ALL_SCOPE : d.integrations[0]!;
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: subjectPk(subject), sk: `${KEY_PREFIX}${scope}#${key}` },
          UpdateExpression: 'SET ord = :floor, resetAt = :now',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':floor': FLOOR_ORDER, ':now': Date.now() },
        }),
      );
    }
    return scopes.length;
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

  /** Sends a conditional write: true when it was made, false when its condition failed. */
  private async ifCondition(command: PutCommand | UpdateCommand): Promise<boolean> {
    try {
      await (command instanceof PutCommand ? this.doc.send(command) : this.doc.send(command));
      return true;
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return false;
      throw e;
    }
  }
}
