/**
 * Subjects whose state reached no connection. Route notes one (`U#`, one item per subject, all in
 * one partition) when it wrote keys for a subject no connection belongs to; the sweep's daily run
 * reads them with a Query (no Scan of the table), forgets those whose index has gained a connection,
 * and reports the rest. An item keeps when it was first noted, so "still unmatched since" is known.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';

const PK = 'U#';
const INDEX_SK = 'INDEX';

export interface UnmatchedNote {
  subject: string;
  /** When route first found the subject without a connection (epoch ms). */
  since: number;
  /** The latest time it did. */
  lastAt: number;
}

export interface UnmatchedPort {
  /** Route: this subject's keys were written and no connection belongs to it. */
  note(subject: string, at: number): Promise<void>;
  /** Up to `limit` notes after `start` (a subject id), in subject order. */
  page(start: string | undefined, limit: number): Promise<{ notes: UnmatchedNote[]; next?: string }>;
  forget(subject: string): Promise<void>;
  /** How many connections each subject's index holds (0 when it has no index item). */
  indexSizes(subjects: readonly string[]): Promise<Map<string, number>>;
}

export class DynamoUnmatchedStore implements UnmatchedPort {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async note(subject: string, at: number): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: PK, sk: subject },
        UpdateExpression: 'SET #s = :s, since = if_not_exists(since, :at), lastAt = :at',
        ExpressionAttributeNames: { '#s': 'subject' },
        ExpressionAttributeValues: { ':s': subject, ':at': at },
      }),
    );
  }

  async page(start: string | undefined, limit: number): Promise<{ notes: UnmatchedNote[]; next?: string }> {
    const res = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': PK },
        Limit: limit,
        ...(start !== undefined ? { ExclusiveStartKey: { pk: PK, sk: start } } : {}),
      }),
    );
    const notes = (res.Items ?? []).map((i) => ({
      subject: String(i.sk),
      since: typeof i.since === 'number' ? i.since : 0,
      lastAt: typeof i.lastAt === 'number' ? i.lastAt : 0,
    }));
    const next = res.LastEvaluatedKey?.sk;
    return typeof next === 'string' ? { notes, next } : { notes };
  }

  async forget(subject: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk: PK, sk: subject } }));
  }

  async indexSizes(subjects: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>(subjects.map((s) => [s, 0]));
    const keys = [...new Set(subjects)].map((s) => ({ pk: `I#${s}`, sk: INDEX_SK }));
    for (let from = 0; from < keys.length; from += 100) {
      let pending: Record<string, unknown>[] | undefined = keys.slice(from, from + 100);
      // Unprocessed keys (throttling) are asked again, a bounded number of times.
      for (let attempt = 0; pending?.length && attempt < 8; attempt++) {
        if (attempt) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
        const res: BatchGetCommandOutput = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.table]: { Keys: pending, ProjectionExpression: 'pk, conns' } } }),
        );
        for (const item of res.Responses?.[this.table] ?? []) {
          const conns = item.conns as Set<string> | undefined;
          out.set(String(item.pk).slice(2), conns?.size ?? 0);
        }
        pending = res.UnprocessedKeys?.[this.table]?.Keys;
      }
      if (pending?.length) throw Object.assign(new Error('index read throttled'), { name: 'ProvisionedThroughputExceededException' });
    }
    return out;
  }
}

/**
 * Route's side: one note per subject per minute per container (a burst of events for a subject
 * without connections writes once), and never a failure of the event: the note is a report, the
 * state is already stored.
 */
export function notesOncePerMinute(port: Pick<UnmatchedPort, 'note'>, onError: (e: unknown) => void, everyMs = 60_000) {
  const noted = new Map<string, number>();
  return {
    async note(subject: string, at: number): Promise<void> {
      if (at - (noted.get(subject) ?? Number.NEGATIVE_INFINITY) < everyMs) return;
      if (noted.size >= 10_000) noted.clear();
      noted.set(subject, at);
      await port.note(subject, at).catch((e: unknown) => {
        noted.delete(subject);
        onError(e);
      });
    },
  };
}
