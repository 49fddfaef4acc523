/**
 * The state store on DynamoDB (one table, `pk`/`sk` strings), through the document client:
 *
 *   S#<subject>  K#<key>   one desired key: value (JSON text), order, integrations, event
 *   S#<subject>  INDEX     the subject's known connections (a string set) and when Nango was asked
 *   C#<conn>     APPLIED   per key `k:<key>` = the order last sent to that connection
 *
 * Every write is a single-item conditional or additive update: no transactions (dynalite has none,
 * and none is needed). Items stay far below 400 KB: a desired key holds one value of one event
 * (events are at most 256 KiB), an index at most MAX_CONNECTIONS_PER_SUBJECT entries of ~300 bytes,
 * an applied item one order (~90 bytes) per key.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Integrations, Json } from '#events/define';
import type { DesiredKey } from '../domain/desired.ts';
import { connectionKey, type EventRef, type Target } from '../sync/message.ts';
import type { IndexEntry, KeyWrite, StatePort, WriteOutcome } from './port.ts';

const subjectPk = (subject: string) => `S#${subject}`;
const KEY_PREFIX = 'K#';
const INDEX_SK = 'INDEX';
const APPLIED_SK = 'APPLIED';
const APPLIED_ATTR = 'k:';

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
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async writeDesired(subject: string, writes: readonly KeyWrite[]): Promise<WriteOutcome> {
    const out: WriteOutcome = { written: [], stale: [] };
    await Promise.all(
      writes.map(async (w) => {
        try {
          await this.doc.send(
            new PutCommand({
              TableName: this.table,
              Item: {
                pk: subjectPk(subject),
                sk: `${KEY_PREFIX}${w.key}`,
                subject,
                key: w.key,
                value: JSON.stringify(w.value),
                ord: w.order,
                integrations: w.integrations === 'all' ? 'all' : JSON.stringify(w.integrations),
                event: w.event,
              },
              // Equal order = this very write again (a retried record): accepted, so its syncs are sent again.
              ConditionExpression: 'attribute_not_exists(ord) OR ord <= :ord',
              ExpressionAttributeValues: { ':ord': w.order },
            }),
          );
          out.written.push(w.key);
        } catch (e) {
          if (e instanceof ConditionalCheckFailedException || (e as Error).name === 'ConditionalCheckFailedException')
            out.stale.push(w.key);
          else throw e;
        }
      }),
    );
    return out;
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
          integrations: item.integrations === 'all' ? 'all' : (JSON.parse(String(item.integrations)) as Integrations),
          event: item.event as EventRef,
        });
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async readApplied(target: Target): Promise<Record<string, string>> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: `C#${connectionKey(target)}`, sk: APPLIED_SK }, ConsistentRead: true }),
    );
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.Item ?? {})) if (k.startsWith(APPLIED_ATTR)) out[k.slice(APPLIED_ATTR.length)] = String(v);
    return out;
  }

  async recordApplied(target: Target, applied: Readonly<Record<string, string>>): Promise<void> {
    const entries = Object.entries(applied);
    if (entries.length === 0) return;
    const names: Record<string, string> = { '#c': 'connectionId', '#p': 'providerConfigKey' };
    const values: Record<string, unknown> = { ':c': target.connectionId, ':p': target.providerConfigKey };
    const sets = ['#c = :c', '#p = :p'];
    entries.forEach(([key, order], i) => {
      names[`#k${i}`] = `${APPLIED_ATTR}${key}`;
      values[`:k${i}`] = order;
      sets.push(`#k${i} = :k${i}`);
    });
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `C#${connectionKey(target)}`, sk: APPLIED_SK },
        UpdateExpression: `SET ${sets.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  async readIndex(subject: string): Promise<IndexEntry | undefined> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: subjectPk(subject), sk: INDEX_SK }, ConsistentRead: true }),
    );
    if (!res.Item) return undefined;
    const set = res.Item.conns as Set<string> | undefined;
    const connections = [...(set ?? [])].map(decodeTarget).filter((t): t is Target => t !== undefined);
    return { connections, fetchedAt: typeof res.Item.fetchedAt === 'number' ? res.Item.fetchedAt : undefined };
  }

  async replaceIndex(subject: string, connections: readonly Target[], fetchedAt: number, listedSince = fetchedAt): Promise<void> {
    const conns = connections.length ? { conns: new Set(connections.map(encodeTarget)) } : {};
    try {
      // DynamoDB refuses empty sets: an empty index is an item without `conns`. The list replaces the
      // index only if no webhook added a connection since the list was asked for.
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: subjectPk(subject), sk: INDEX_SK, subject, fetchedAt, ...conns },
          ConditionExpression: 'attribute_not_exists(addedAt) OR addedAt < :since',
          ExpressionAttributeValues: { ':since': listedSince },
        }),
      );
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
      // A connection was added meanwhile (its webhook): keep it, and add what the list found.
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: subjectPk(subject), sk: INDEX_SK },
          UpdateExpression: connections.length ? 'SET fetchedAt = :f ADD conns :c' : 'SET fetchedAt = :f',
          ExpressionAttributeValues: { ':f': fetchedAt, ...(connections.length ? { ':c': conns.conns } : {}) },
        }),
      );
    }
  }

  async addToIndex(subject: string, target: Target): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: subjectPk(subject), sk: INDEX_SK },
        UpdateExpression: 'ADD conns :c SET subject = :s, addedAt = :now',
        ExpressionAttributeValues: { ':c': new Set([encodeTarget(target)]), ':s': subject, ':now': Date.now() },
      }),
    );
  }

  async removeFromIndex(subject: string, target: Target): Promise<void> {
    await this.doc
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: subjectPk(subject), sk: INDEX_SK },
          UpdateExpression: 'DELETE conns :c',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':c': new Set([encodeTarget(target)]) },
        }),
      )
      .catch((e: Error) => {
        if (e.name !== 'ConditionalCheckFailedException') throw e;
      });
  }
}
