/**
 * Membership and sweep runs, on the state table:
 *
 *   M#<conn>     MEMBER   the connection's subjects as Nango last listed it (`subjects`, `seenAt` =
 *                         when that listing was asked for, `created`, `tags` = a digest of its tags);
 *                         the sweep and apply's seed lookup write it
 *   R#<name>     RUN      a sweep run's lease and progress, and the last complete run's result
 *
 * Membership is what apply enforces (a subject's keys go only to its members); the index is route's
 * way from a subject to its connections, kept in step with membership by whoever changes it.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { sendIfCondition } from './conditional.ts';
import { connectionKey, type Target } from '../sync/message.ts';

export interface Membership {
  subjects: string[];
  /** Epoch ms of the listing this was read from. */
  seenAt: number;
  /**
   * The connection's `created` as Nango listed it: a connection deleted and created again under the
   * same id has another, so it is seeded as new (its creation webhook may repeat the first one's body).
   */
  created?: string | undefined;
  /** `tagsDigest` of the tags the connection was listed with (absent on memberships written before it was kept). */
  tags?: string | undefined;
}

export interface RunSummary {
  run: string;
  repair: boolean;
  startedAt: number;
  endedAt: number;
  pages: number;
  counts: Record<string, number>;
}

export interface RunState {
  run: string;
  status: 'running' | 'done';
  repair: boolean;
  /** The next page to list (0-based). */
  page: number;
  startedAt: number;
  /** Until when the run's chain is known alive; a tick after it resumes the run at `page`. */
  leaseUntil: number;
  counts: Record<string, number>;
  /** A daily repair asked while this run went on: the next run repairs. */
  repairRequested: boolean;
  lastComplete?: RunSummary;
}

export interface MembershipPort {
  /** Eventually consistent: the sweep compares, and a write is conditional on the listing's time. */
  readMembers(targets: readonly Target[]): Promise<Map<string, Membership>>;
  /** Eventually consistent unless `consistent`. */
  readMember(target: Target, consistent?: boolean): Promise<Membership | undefined>;
  /** False when a listing at least as recent wrote it first. */
  writeMember(target: Target, m: Membership): Promise<boolean>;
  forgetMember(target: Target): Promise<void>;
}

export interface RunPort {
  readRun(name: string): Promise<RunState | undefined>;
  /** Starts a run unless one holds a live lease; false when one does. */
  startRun(name: string, run: string, repair: boolean, now: number, leaseMs: number): Promise<boolean>;
  /** Takes the run's page for this invocation; false when the run moved on or another holds it. */
  claimPage(name: string, run: string, page: number, now: number, leaseMs: number): Promise<boolean>;
  /** Counts the page done and moves to the next; `done` ends the run and keeps its summary. */
  advance(
    name: string,
    run: string,
    page: number,
    counts: Record<string, number>,
    now: number,
    leaseMs: number,
    done: boolean,
  ): Promise<boolean>;
  /** Extends a run's lease to resume it (the tick that found it stalled). */
  renewLease(name: string, run: string, until: number, now: number): Promise<boolean>;
  requestRepair(name: string): Promise<void>;
  /** Gives a claimed page back after a failure, so its redelivery may take it at once. */
  releasePage(name: string, run: string, page: number): Promise<void>;
}

const memberPk = (t: Target) => `M#${connectionKey(t)}`;
const MEMBER_SK = 'MEMBER';
const runPk = (name: string) => `R#${name}`;
const RUN_SK = 'RUN';

export class DynamoMembershipStore implements MembershipPort, RunPort {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async readMembers(targets: readonly Target[]): Promise<Map<string, Membership>> {
    const out = new Map<string, Membership>();
    const keys = [...new Map(targets.map((t) => [connectionKey(t), { pk: memberPk(t), sk: MEMBER_SK }])).values()];
    for (let from = 0; from < keys.length; from += 100) {
      let pending: Record<string, unknown>[] | undefined = keys.slice(from, from + 100);
      // Unprocessed keys (throttling) are asked again, a bounded number of times.
      for (let attempt = 0; pending?.length && attempt < 8; attempt++) {
        if (attempt) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
        const res: BatchGetCommandOutput = await this.doc.send(new BatchGetCommand({ RequestItems: { [this.table]: { Keys: pending } } }));
        for (const item of res.Responses?.[this.table] ?? []) {
          const m = toMembership(item);
          if (m) out.set(String(item.pk).slice(2), m);
        }
        pending = res.UnprocessedKeys?.[this.table]?.Keys;
      }
      if (pending?.length) throw Object.assign(new Error('membership read throttled'), { name: 'ProvisionedThroughputExceededException' });
    }
    return out;
  }

  async readMember(target: Target, consistent = false): Promise<Membership | undefined> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: memberPk(target), sk: MEMBER_SK }, ConsistentRead: consistent }),
    );
    return res.Item ? toMembership(res.Item) : undefined;
  }

  async writeMember(target: Target, m: Membership): Promise<boolean> {
    return this.ifCondition(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: memberPk(target),
          sk: MEMBER_SK,
          connectionId: target.connectionId,
          providerConfigKey: target.providerConfigKey,
          subjects: m.subjects,
          seenAt: m.seenAt,
          ...(m.created !== undefined ? { created: m.created } : {}),
          ...(m.tags !== undefined ? { tags: m.tags } : {}),
        },
        ConditionExpression: 'attribute_not_exists(seenAt) OR seenAt <= :t',
        ExpressionAttributeValues: { ':t': m.seenAt },
      }),
    );
  }

  async forgetMember(target: Target): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk: memberPk(target), sk: MEMBER_SK } }));
  }

  async readRun(name: string): Promise<RunState | undefined> {
    const res = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: runPk(name), sk: RUN_SK }, ConsistentRead: true }));
    const i = res.Item;
    if (!i) return undefined;
    return {
      run: String(i.run ?? ''),
      status: i.status === 'running' ? 'running' : 'done',
      repair: i.repair === true,
      page: Number(i.page ?? 0),
      startedAt: Number(i.startedAt ?? 0),
      leaseUntil: Number(i.leaseUntil ?? 0),
      counts: (i.counts as Record<string, number>) ?? {},
      repairRequested: i.repairRequested === true,
      ...(i.lastComplete ? { lastComplete: i.lastComplete as RunSummary } : {}),
    };
  }

  async startRun(name: string, run: string, repair: boolean, now: number, leaseMs: number): Promise<boolean> {
    return this.ifCondition(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: runPk(name), sk: RUN_SK },
        UpdateExpression:
          'SET #run = :run, #status = :running, repair = :repair, page = :zero, startedAt = :now, leaseUntil = :lease, counts = :counts REMOVE repairRequested, claimUntil',
        // Two runs never overlap: a running one is replaced only once its lease lapsed.
        ConditionExpression: 'attribute_not_exists(#status) OR #status <> :running OR leaseUntil < :now',
        ExpressionAttributeNames: { '#run': 'run', '#status': 'status' },
        ExpressionAttributeValues: {
          ':run': run,
          ':running': 'running',
          ':repair': repair,
          ':zero': 0,
          ':now': now,
          ':lease': now + leaseMs,
          ':counts': {},
        },
      }),
    );
  }

  async claimPage(name: string, run: string, page: number, now: number, leaseMs: number): Promise<boolean> {
    return this.ifCondition(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: runPk(name), sk: RUN_SK },
        UpdateExpression: 'SET claimUntil = :lease, leaseUntil = :lease',
        // A duplicate delivery of the same page waits its turn instead of running beside it.
        ConditionExpression:
          '#run = :run AND page = :page AND #status = :running AND (attribute_not_exists(claimUntil) OR claimUntil < :now)',
        ExpressionAttributeNames: { '#run': 'run', '#status': 'status' },
        ExpressionAttributeValues: { ':run': run, ':page': page, ':running': 'running', ':now': now, ':lease': now + leaseMs },
      }),
    );
  }

  async advance(
    name: string,
    run: string,
    page: number,
    counts: Record<string, number>,
    now: number,
    leaseMs: number,
    done: boolean,
  ): Promise<boolean> {
    const current = await this.readRun(name);
    if (!current || current.run !== run || current.page !== page) return false;
    const total: Record<string, number> = { ...current.counts };
    for (const [k, v] of Object.entries(counts)) total[k] = (total[k] ?? 0) + v;
    const summary: RunSummary | undefined = done
      ? { run, repair: current.repair, startedAt: current.startedAt, endedAt: now, pages: page + 1, counts: total }
      : undefined;
    return this.ifCondition(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: runPk(name), sk: RUN_SK },
        UpdateExpression: `SET page = :next, counts = :counts, leaseUntil = :lease, #status = :status${summary ? ', lastComplete = :summary' : ''} REMOVE claimUntil`,
        ConditionExpression: '#run = :run AND page = :page',
        ExpressionAttributeNames: { '#run': 'run', '#status': 'status' },
        ExpressionAttributeValues: {
          ':run': run,
          ':page': page,
          ':next': page + 1,
          ':counts': total,
          ':lease': now + leaseMs,
          ':status': done ? 'done' : 'running',
          ...(summary ? { ':summary': summary } : {}),
        },
      }),
    );
  }

  async renewLease(name: string, run: string, until: number, now: number): Promise<boolean> {
    return this.ifCondition(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: runPk(name), sk: RUN_SK },
        UpdateExpression: 'SET leaseUntil = :until REMOVE claimUntil',
        ConditionExpression: '#run = :run AND #status = :running AND leaseUntil < :now',
        ExpressionAttributeNames: { '#run': 'run', '#status': 'status' },
        ExpressionAttributeValues: { ':run': run, ':running': 'running', ':until': until, ':now': now },
      }),
    );
  }

  async requestRepair(name: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: runPk(name), sk: RUN_SK },
        UpdateExpression: 'SET repairRequested = :t',
        ExpressionAttributeValues: { ':t': true },
      }),
    );
  }

  async releasePage(name: string, run: string, page: number): Promise<void> {
    await this.ifCondition(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: runPk(name), sk: RUN_SK },
        UpdateExpression: 'REMOVE claimUntil',
        ConditionExpression: '#run = :run AND page = :page',
        ExpressionAttributeNames: { '#run': 'run' },
        ExpressionAttributeValues: { ':run': run, ':page': page },
      }),
    );
  }

  private ifCondition(command: PutCommand | UpdateCommand): Promise<boolean> {
    return sendIfCondition(this.doc, command);
  }
}

function toMembership(item: Record<string, unknown>): Membership | undefined {
  if (!Array.isArray(item.subjects) || typeof item.seenAt !== 'number') return undefined;
  return {
    subjects: item.subjects.map(String),
    seenAt: item.seenAt,
    ...(typeof item.created === 'string' ? { created: item.created } : {}),
    ...(typeof item.tags === 'string' ? { tags: item.tags } : {}),
  };
}
