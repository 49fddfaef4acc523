/**
 * Reading the DLQs: where they are, holding their messages without losing any, and what each message
 * is (an envelope, a bare message SQS's redrive moved, or malformed) and how it would be replayed.
 */
import { createHash } from 'node:crypto';
import { CloudFormationClient, type Output } from '@aws-sdk/client-cloudformation';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { Agent, request } from 'undici';
import { ENV } from '#commons/config';
import { DLQ_ENVELOPE_KIND, parseEnvelope, type DlqEnvelope, type Stage } from '#commons/dlq-envelope';
import { MAX_EVENT_BYTES } from '#commons/event-envelope';
import { tryJson } from '#commons/json';
import { boundErrors } from '#commons/failure';
import { knownSecrets, quotedAcross, WITHHELD } from '#commons/redact';
import { excerptOf, MAX_ERROR_BODY_BYTES } from '#commons/nango/errors';
import { MAX_LIST_PAGE_BYTES, readCapped } from '#commons/nango/http-client';
import { parseConnections } from '#commons/nango/listed';
import { KEY_FORMAT } from '#commons/secrets';
import { connectionKey, type Target } from '#commons/sync/message';
import { OutputKeys } from '../../infra/outputs.ts';
import { CliError, describeError, networkCode, scrub, scrubValue } from '../errors.ts';
import { progressLine } from '../format.ts';
import { findOutput, stackOutputs } from '../stack-outputs.ts';
import type { Filter, ParsedArgs, QueueFlags } from './args.ts';

// ---- queues ----------------------------------------------------------------------------------

export type QueueRole = 'ingress' | 'ingressDlq' | 'sync' | 'syncDlq';
export type QueueUrls = Partial<Record<QueueRole, string>>;
export type Dlq = { stage: Stage; url: string };
export const STAGE_QUEUES = { route: { dlq: 'ingressDlq', source: 'ingress' }, apply: { dlq: 'syncDlq', source: 'sync' } } as const;
const WHERE: Record<QueueRole, [output: string, env: string, flag: string, v1Output?: string, v1Env?: string]> = {
  ingress: [OutputKeys.IngressQueueUrl, ENV.INGRESS_QUEUE_URL, '--ingress-url'],
  ingressDlq: [OutputKeys.IngressDlqUrl, ENV.INGRESS_DLQ_URL, '--ingress-dlq-url'],
  sync: [OutputKeys.SyncQueueUrl, ENV.SYNC_QUEUE_URL, '--sync-url', 'PatchesQueueUrl', 'PATCHES_QUEUE_URL'],
  syncDlq: [OutputKeys.SyncDlqUrl, ENV.SYNC_DLQ_URL, '--sync-dlq-url', 'PatchesDlqUrl', 'PATCHES_DLQ_URL'],
};
const ROLES = Object.keys(WHERE) as QueueRole[];
const [IDLQ, SDLQ] = [WHERE.ingressDlq, WHERE.syncDlq];

export const isFifoUrl = (url: string): boolean => /\.fifo$/.test(new URL(url).pathname);

export const howToGive = (role: QueueRole): string =>
  `pass ${WHERE[role][2]}, or --stack NAME with a ${WHERE[role][0]} output, or set ${WHERE[role][1]}`;

export function sourceUrl(urls: QueueUrls, stage: Stage): string {
  const role = STAGE_QUEUES[stage].source;
  if (urls[role]) return urls[role];
  throw new CliError(`no URL for the ${role} queue that ${stage} failures go back to: ${howToGive(role)}`);
}

export function urlsFromOutputs(outputs: readonly Output[]): QueueUrls {
  const pairs = ROLES.map((r) => [r, findOutput(outputs, WHERE[r][0]) ?? (WHERE[r][3] ? findOutput(outputs, WHERE[r][3]) : undefined)]);
  return Object.fromEntries(pairs.filter(([, v]) => v));
}

/** Flags win over the stack's outputs (--stack), the stack over the functions' environment variables. */
export async function resolveQueueUrls(flags: QueueFlags, env: NodeJS.ProcessEnv, cfn?: () => CloudFormationClient): Promise<QueueUrls> {
  const client = () => cfn?.() ?? new CloudFormationClient(flags.region ? { region: flags.region } : {});
  const stack = flags.stack ? urlsFromOutputs(await stackOutputs(flags.stack, client())) : {};
  if (flags.stack && !stack.ingressDlq && !stack.syncDlq) {
    throw new CliError(`stack ${flags.stack} has no ${IDLQ[0]} or ${SDLQ[0]} output; pass ${IDLQ[2]} / ${SDLQ[2]}`);
  }
  const urls = ROLES.map((r) => [r, flags[r] || (flags.stack ? stack[r] : env[WHERE[r][1]] || env[WHERE[r][4] ?? ''])]);
  return Object.fromEntries(urls.filter(([, v]) => v));
}

/** The DLQs a command reads: the stages asked for, or every stage whose DLQ is known. */
export function dlqsFor(urls: QueueUrls, stages: readonly Stage[] | undefined): Dlq[] {
  const out: Dlq[] = [];
  for (const stage of stages?.length ? [...new Set(stages)] : (['route', 'apply'] as const)) {
    const url = urls[STAGE_QUEUES[stage].dlq];
    if (url) out.push({ stage, url });
    else if (stages?.length) throw new CliError(`no URL for the ${stage} stage's DLQ: ${howToGive(STAGE_QUEUES[stage].dlq)}`);
  }
  if (out.length) return out;
  throw new CliError(
    `no DLQ to read: pass --stack NAME, or ${IDLQ[2]} / ${SDLQ[2]} (or set ${IDLQ[1]} / ${SDLQ[1]}). For the local pipeline also set AWS_ENDPOINT_URL_SQS.`,
  );
}

// ---- holding -------------------------------------------------------------------------------

/** A message received from a DLQ and held invisible until we delete or release it; attributes as strings. */
export type HeldMessage = Record<'queueUrl' | 'messageId' | 'receiptHandle' | 'body', string> &
  Record<'attributes' | 'messageAttributes', Record<string, string>>;
export type QueueReport = Awaited<ReturnType<Holder['scan']>>['report'];

/**
 * SQS has no "peek": we receive with a visibility timeout (messages stay in the queue, hidden), renew it while we work, delete only
 * what was replayed, and make the rest visible again at the end; if the process dies, they reappear when the timeout runs out.
 */
export class Holder {
  /** queueUrl -> messageId -> the latest receipt */
  private readonly held = new Map<string, Map<string, HeldMessage>>();
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<unknown> | undefined;

  constructor(
    private readonly sqs: SQSClient,
    private readonly visibilitySeconds: number,
    private readonly endpoint?: string | undefined,
  ) {}

  /** Receives until the queue has nothing visible left for us, deduplicating by MessageId. */
  async scan({ stage, url }: Dlq, o: ParsedArgs['read'], onRead?: (scanned: number, approximateTotal: number) => void) {
    const approximateTotal = await this.count(url);
    const mine = this.held.get(url) ?? this.held.set(url, new Map()).get(url)!;
    const seen = new Map<string, HeldMessage>();
    // A message comes again only when our hold ran out: stop after three rounds of only those.
    for (let repeats = 0; repeats < 3 && seen.size < o.scanLimit; ) {
      const receive = new ReceiveMessageCommand({
        ...{ QueueUrl: url, MaxNumberOfMessages: Math.min(10, o.scanLimit - seen.size), VisibilityTimeout: o.visibilitySeconds },
        ...{ WaitTimeSeconds: o.waitSeconds, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'] },
      });
      const got = (await this.call(url, this.sqs.send(receive))).Messages ?? [];
      if (!got.length) break;
      const before = seen.size;
      for (const { MessageId: messageId, ReceiptHandle: receiptHandle, Body, Attributes, MessageAttributes } of got) {
        if (!messageId || !receiptHandle) continue;
        const strings = Object.entries(MessageAttributes ?? {}).filter(([, v]) => v.StringValue !== undefined);
        const messageAttributes = Object.fromEntries(strings.map(([k, v]) => [k, v.StringValue!]));
        const attributes = { ...(Attributes as Record<string, string> | undefined) };
        const h = { queueUrl: url, messageId, receiptHandle, body: Body ?? '', attributes, messageAttributes };
        seen.set(messageId, h);
        mine.set(messageId, h);
      }
      repeats = seen.size > before ? 0 : repeats + 1;
      onRead?.(seen.size, approximateTotal);
    }
    // notReached: visible after the scan, so behind a held message of its FIFO group, or new. Approximate.
    const notReached = Number((await this.attributes(url)).ApproximateNumberOfMessages ?? 0);
    const scanned = seen.size;
    const report = { stage, url, fifo: isFifoUrl(url), approximateTotal, scanned, notReached, scanLimitReached: scanned >= o.scanLimit };
    return { items: [...seen.values()].map((m) => classify(m, stage)), report };
  }

  async count(queueUrl: string): Promise<number> {
    const a = await this.attributes(queueUrl);
    return ['', 'NotVisible', 'Delayed'].reduce((n, s) => n + Number(a[`ApproximateNumberOfMessages${s}`] ?? 0), 0);
  }

  async attributes(queueUrl: string): Promise<Record<string, string>> {
    const get = new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] });
    return (await this.call(queueUrl, this.sqs.send(get))).Attributes ?? {};
  }

  startRenewing(): void {
    const renew = () => (this.renewing ??= this.setVisibility(this.visibilitySeconds).finally(() => (this.renewing = undefined)));
    // unref: a pending renewal must not keep a finished CLI alive.
    this.timer ??= setInterval(renew, Math.max(1, Math.floor(this.visibilitySeconds / 3)) * 1000).unref();
  }

  /** Removes a replayed message. Throws if SQS refuses (the message then stays and is replayed again later). */
  async delete(msg: HeldMessage): Promise<void> {
    const latest = this.held.get(msg.queueUrl)?.get(msg.messageId) ?? msg;
    await this.sqs.send(new DeleteMessageCommand({ QueueUrl: msg.queueUrl, ReceiptHandle: latest.receiptHandle }));
    this.held.get(msg.queueUrl)?.delete(msg.messageId);
  }

  /** Makes every held message visible again at once. Returns how many SQS did not accept (they reappear at the timeout). */
  async releaseAll(): Promise<number> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.renewing;
    return this.setVisibility(0).finally(() => this.held.clear());
  }

  private async setVisibility(seconds: number): Promise<number> {
    let failed = 0;
    for (const [QueueUrl, msgs] of this.held) {
      const all = [...msgs.values()];
      for (let i = 0; i < all.length; i += 10) {
        const chunk = all.slice(i, i + 10);
        const Entries = chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.receiptHandle, VisibilityTimeout: seconds }));
        const batch = this.sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl, Entries }));
        failed += await batch.then((r) => r.Failed?.length ?? 0).catch(() => chunk.length);
      }
    }
    return failed;
  }

  call<T>(queueUrl: string, request: Promise<T>): Promise<T> {
    return request.catch((e: unknown) => {
      throw describeError(e, { queueUrl, endpoint: this.endpoint });
    });
  }
}

/** A DLQ this large takes many receives (10 messages each) to read: say how far the reading is, on `progress` (stderr). */
export const SCAN_PROGRESS_FROM = 100;

export async function scanDlqs(
  holder: Holder,
  dlqs: readonly Dlq[],
  read: ParsedArgs['read'],
  progress?: NodeJS.WritableStream & { isTTY?: boolean },
) {
  const scans = [];
  for (const d of dlqs) {
    const line = progress && progressLine({ write: (t) => progress.write(t), isTTY: Boolean(progress.isTTY) }, 5000);
    const onRead = (n: number, total: number) =>
      total >= SCAN_PROGRESS_FROM && line?.update(`reading the ${d.stage} DLQ: ${n} of ~${total} message(s)`);
    scans.push(await holder.scan(d, read, onRead));
    line?.done();
  }
  return { items: scans.flatMap((s) => s.items), reports: scans.map((s) => s.report) };
}

// ---- what a message is ---------------------------------------------------------------------

/** One message to put back on a source queue; FIFO: in the connection's group, with a new deduplication id. */
export type Outgoing = { queue: 'ingress' | 'sync'; body: string; groupId?: string; deduplicationId?: string };
export type ReplayPlan = { ok: true; messages: Outgoing[] } | { ok: false; reason: string };
/**
 * One DLQ message as the tool sees it. `stage` failed (the envelope's, else the DLQ's); `kind` bare:
 * SQS's redrive moved it, malformed: never replayed. `failedAt`: lastFailureAt, else SentTimestamp.
 * Version 1 only: `patch` and its keys' event times, `keyTimes`.
 */
export type DlqItem = Record<'messageId' | 'errorCode' | 'errorMessage' | 'body', string> & {
  dlqStage: Stage;
  stage: Stage;
  kind: 'envelope' | 'bare' | 'malformed';
  eventIds: string[];
  failedAt: Date;
  dlqReceiveCount: number;
  replay: ReplayPlan;
  held: HeldMessage;
} & Partial<Record<'eventType' | 'eventSource' | 'connectionId' | 'providerConfigKey' | 'sequenceNumber', string | undefined>> &
  Partial<{ status: number; retryable: boolean; attempts: number; patch: Obj; keyTimes: Record<string, string>; envelope: DlqEnvelope }>;
export type Obj = Record<string, unknown>;

const REDRIVEN = 'moved by SQS redrive after maxReceiveCount (the function failed without writing an envelope)';

/**
 * Route failures go back to ingress as the original event, apply failures to the sync FIFO as the
 * original bodies (see planSync). What is shown is scrubbed; what is sent is the body as stored.
 */
export function classify(held: HeldMessage, dlqStage: Stage): DlqItem {
  const { messageId, body, attributes: a } = held;
  const sentAt = new Date(Number(a.SentTimestamp ?? 0) || 0);
  const bare = {
    ...{ dlqStage, stage: dlqStage, messageId, dlqReceiveCount: Number(a.ApproximateReceiveCount ?? 0), body, held },
    ...{ sequenceNumber: a.SequenceNumber, eventIds: [] as string[], failedAt: sentAt, kind: 'bare' as const },
  };
  // Synthetic error codes for messages that carry none, so filters can select them.
  const redriven = { ...bare, errorCode: 'sqs_redrive', errorMessage: REDRIVEN };
  const malformed = (why: string): DlqItem => {
    const replay = { ok: false as const, reason: `malformed: ${why}` };
    return { ...bare, kind: 'malformed', errorCode: 'malformed_message', errorMessage: `malformed DLQ message: ${why}`, replay };
  };
  const json = tryJson(body);
  const env = parseEnvelope(body);
  if (env) {
    const shown = scrubValue(env);
    const failedAt = new Date(env.lastFailureAt);
    return {
      ...bare,
      kind: 'envelope',
      stage: env.stage,
      ...{ errorCode: shown.error.code, errorMessage: shown.error.message, status: env.error.status, retryable: env.error.retryable },
      ...{ eventType: shown.events[0]?.detailType, eventSource: shown.events[0]?.source, eventIds: shown.events.map((e) => e.id) },
      ...{ connectionId: env.target?.connectionId, providerConfigKey: env.target?.providerConfigKey, attempts: env.attempts },
      failedAt: Number.isNaN(failedAt.getTime()) ? sentAt : failedAt,
      patch: shown.patch,
      ...(env.stage === 'apply' && shown.patch ? { keyTimes: keyTimesOf(env.originals.map((o) => o.body)) } : {}),
      envelope: shown,
      replay: planEnvelope(env, messageId, Math.min(Number(a.SentTimestamp) || Infinity, Date.parse(env.firstFailureAt) || Infinity)),
    };
  }
  // Looks like our envelope but does not parse: never guess how to replay it.
  if (isObject(json) && json.kind === DLQ_ENVELOPE_KIND) {
    return malformed('a failure envelope that does not match the schema (version or fields)');
  }
  if (dlqStage === 'apply') {
    if (!isObject(json)) return malformed(json === undefined ? 'not JSON' : 'not a JSON object');
    const { target, patch, event } = readMessage(json);
    // SQS's redrive keeps the message's group: the connection it belongs to.
    if (!target) return malformed('not a sync message (it names no connection)');
    return {
      ...redriven,
      ...{ eventType: event?.detailType, eventSource: event?.source, eventIds: event ? [event.id] : [], ...target },
      ...(patch ? { patch: scrubValue(patch), ...(event ? { keyTimes: keyTimesOf([body]) } : {}) } : {}),
      replay: planSync([{ body, messageId, messageGroupId: a.MessageGroupId }], messageId, target),
    };
  }
  // Ingress: any body is an event as far as we know; route validates it again on replay. The rule's
  // target DLQ is this queue too: EventBridge adds RULE_ARN and ERROR_CODE when it could not deliver.
  const resolved = isObject(json) ? arrivalKept(json, messageId, Number(a.SentTimestamp)) : undefined;
  const ev = resolved ?? {};
  const { RULE_ARN, ERROR_CODE, ERROR_MESSAGE } = held.messageAttributes;
  const why = `EventBridge could not deliver the event to the ingress queue: ${ERROR_MESSAGE ?? ERROR_CODE}`;
  const out = resolved && JSON.stringify(resolved);
  return {
    ...redriven,
    ...(RULE_ARN !== undefined && ERROR_CODE !== undefined ? { errorCode: ERROR_CODE, errorMessage: scrub(why) } : {}),
    ...{ eventType: str(ev['detail-type']), eventSource: str(ev.source), eventIds: typeof ev.id === 'string' ? [ev.id] : [] },
    replay: { ok: true, messages: [{ queue: 'ingress', body: out && Buffer.byteLength(out, 'utf8') <= MAX_EVENT_BYTES ? out : body }] },
  };
}

/**
 * A bare ingress message as route resolved it the first time, as route's own park does for an envelope: a missing `id` is the
 * message id (SQS's redrive keeps it), a missing `time` and the arrival (`receivedAt`) its SentTimestamp. Sent as it is, it would
 * be re-stamped with the replay's arrival, and a version dated ahead could then outrank a change made while it sat in the DLQ.
 */
function arrivalKept(ev: Obj, messageId: string, sentMs: number): Obj {
  if (!Number.isSafeInteger(sentMs) || sentMs <= 0) return ev;
  const first = ev.receivedAt;
  const receivedAt = Number.isSafeInteger(first) && (first as number) > 0 ? Math.min(first as number, sentMs) : sentMs;
  return { ...ev, id: ev.id ?? messageId, time: ev.time ?? new Date(sentMs).toISOString(), receivedAt };
}

/** `parkedMs`: when the envelope was parked at the latest (its DLQ sent time, its first failure), so after the event reached us. */
function planEnvelope(env: DlqEnvelope, dlqMessageId: string, parkedMs: number): ReplayPlan {
  if (env.originals.length === 0) return { ok: false, reason: 'the envelope holds no original message' };
  const cut = env.originals.findIndex((o) => o.truncated);
  if (cut >= 0) return { ok: false, reason: `original message ${cut + 1} was truncated when the envelope was written` };
  if (env.stage === 'route') {
    return { ok: true, messages: env.originals.map((o) => ({ queue: 'ingress', body: withArrival(o.body, parkedMs) })) };
  }
  return planSync(env.originals, dlqMessageId, env.target);
}

/**
 * Route records `receivedAt` only for an event it had mapped (and older versions not at all). One refused before (dated ahead,
 * a detail the catalog did not accept yet) reached us no later than it was parked: without that bound its replay would be
 * bounded by the replay's arrival, and a version dated ahead could outrank a change made while it sat in the DLQ.
 */
function withArrival(body: string, parkedMs: number): string {
  if (!Number.isSafeInteger(parkedMs) || parkedMs <= 0) return body;
  const ev = tryJson(body);
  if (!isObject(ev) || (Number.isSafeInteger(ev.receivedAt) && (ev.receivedAt as number) > 0)) return body;
  const out = JSON.stringify({ ...ev, receivedAt: parkedMs });
  return Buffer.byteLength(out, 'utf8') <= MAX_EVENT_BYTES ? out : body;
}

function planSync(originals: DlqEnvelope['originals'], dlqMessageId: string, fallback?: Target): ReplayPlan {
  const messages: Outgoing[] = [];
  for (const [i, o] of originals.entries()) {
    const json = tryJson(o.body);
    if (!isObject(json)) return { ok: false, reason: `original message ${i + 1} is not a JSON object` };
    const target = readMessage(json).target ?? fallback;
    const groupId = o.messageGroupId ?? (target ? connectionKey(target) : undefined);
    if (!groupId) return { ok: false, reason: `original message ${i + 1} has no message group and the envelope names no connection` };
    // Without its queue time, so apply writes the latest desired state rather than leave keys to later syncs (maybe in this DLQ too).
    const { queuedAt: _, ...rest } = json;
    const body = json.kind === 'sync' && 'queuedAt' in json ? JSON.stringify(rest) : o.body;
    messages.push({ queue: 'sync', body, groupId, deduplicationId: replayDeduplicationId(o.messageId, dlqMessageId, i) });
  }
  return { ok: true, messages };
}

function keyTimesOf(bodies: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const b of bodies) {
    const { patch, event } = readMessage(tryJson(b));
    if (!event) continue;
    for (const k of Object.keys(patch ?? {})) if (out[k] === undefined || event.time > out[k]) out[k] = event.time;
  }
  return out;
}

/** What a sync (or version 1 patch) message says about itself, where it says it; nothing is required. */
function readMessage(message: unknown) {
  const json = isObject(message) ? message : {};
  const t = isObject(json.target) ? json.target : json;
  const e = isObject(json.event) ? json.event : {};
  const [connectionId, providerConfigKey, id, time] = [str(t.connectionId), str(t.providerConfigKey), str(e.id), str(e.time)];
  return {
    target: connectionId !== undefined && providerConfigKey !== undefined ? { connectionId, providerConfigKey } : undefined,
    patch: isObject(json.patch) ? json.patch : undefined,
    event: id !== undefined && time !== undefined ? { id, time, source: str(e.source), detailType: str(e.detailType) } : undefined,
  };
}

/**
 * Differs from the original's (SQS's 5-minute window would swallow the replay of a recent failure)
 * and from every earlier replay's (each failure is a new DLQ message id), but is the same when a
 * killed replay is run again: SQS then drops the second send.
 */
export function replayDeduplicationId(originalBasis: string, dlqMessageId: string, index: number): string {
  return createHash('sha256').update(`replay\n${originalBasis}\n${dlqMessageId}\n${index}`).digest('hex');
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---- choosing ------------------------------------------------------------------------------

/** Every criterion given must match (AND); a criterion with several values matches any of them (OR). */
export function matches(i: DlqItem, f: Filter): boolean {
  const lists = [f.stages, f.errorCodes, f.eventTypes, f.connectionIds, f.providerConfigKeys, f.messageIds];
  const values = [i.stage, i.errorCode, i.eventType, i.connectionId, i.providerConfigKey, i.messageId];
  const t = i.failedAt.getTime();
  const inTime = !(f.since && t < f.since.getTime()) && !(f.until && t >= f.until.getTime());
  return inTime && lists.every((l, n) => !l?.length || l.includes(values[n]!));
}

/** Oldest failure first, so replay keeps each connection's order; within a FIFO group the sequence number breaks ties. */
export function compareItems(a: DlqItem, b: DlqItem): number {
  if (a.failedAt.getTime() !== b.failedAt.getTime()) return a.failedAt.getTime() - b.failedAt.getTime();
  const [sa, sb] = [a.sequenceNumber, b.sequenceNumber].map((s) => (s ? BigInt(s) : undefined));
  if (sa !== undefined && sb !== undefined && sa !== sb) return sa < sb ? -1 : 1;
  return a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0;
}

/** The matching items in order; --max takes the oldest. */
export function select(items: readonly DlqItem[], f: Filter): DlqItem[] {
  const matching = items.filter((i) => matches(i, f));
  return matching.sort(compareItems).slice(0, f.max);
}

/** Any criterion but the stage (the parser leaves absent or empty ones undefined). */
export const hasCriteria = (f: Filter): boolean => Object.entries(f).some(([k, v]) => k !== 'stages' && v !== undefined);

// ---- Nango, for a dry run ----------------------------------------------------------------------

export type MetadataResult =
  | { ok: true; metadata: Obj | null }
  | { ok: false; status?: number; code: string; message: string; errors?: unknown };

/**
 * A connection's metadata from `GET /connections?connectionId=&integrationId=`, which returns no
 * credentials (`GET /connections/{id}` makes Nango refresh OAuth tokens). One pool, closed at the end
 * so no socket holds the CLI open. Unlike the runtime's client, it shows Nango's `errors` (scrubbed).
 */
export function nangoReader(host: string, key: string, timeoutMs = 10_000) {
  const agent = new Agent({ connect: { timeout: 5_000 } });
  const metadataOf = async (connectionId: string, integrationId: string): Promise<MetadataResult> => {
    // Nango's secret keys are UUIDs; its server answers 401 `invalid_secret_key_format` to anything else.
    if (!KEY_FORMAT.test(key)) {
      const message = `the configured Nango secret key is ${key ? 'not a UUID' : 'empty'}; check NANGO_SECRET_KEY or the secret (bare key, or JSON {"secretKey": ...})`;
      return { ok: false, code: 'invalid_secret_key_format', message };
    }
    const url = `${host.replace(/\/+$/, '')}/connections?${new URLSearchParams({ connectionId, integrationId })}`;
    try {
      const headers = { authorization: `Bearer ${key}`, accept: 'application/json' };
      const signal = AbortSignal.timeout(timeoutMs);
      const res = await request(url, { dispatcher: agent, headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal });
      const status = res.statusCode;
      // Untrusted: read up to what one list page may hold (an error, far less), then drop the connection.
      const ok = status >= 200 && status < 300;
      const { text, truncated } = await readCapped(res.body, ok ? MAX_LIST_PAGE_BYTES : MAX_ERROR_BODY_BYTES);
      if (truncated) {
        const max = ok ? `${MAX_LIST_PAGE_BYTES / 1024 / 1024} MiB` : `${MAX_ERROR_BODY_BYTES / 1024} KiB`;
        return { ok: false, status, code: 'response_too_large', message: `Nango answered ${status} with more than ${max}` };
      }
      if (!ok) return scrubValue(failureOf(status, text, key));
      const listed = parseConnections(text);
      if (!listed) return { ok: false, status, code: 'unexpected_body', message: 'the answer has no connections list' };
      // The filters are Nango's; checked again here so a server that ignores one cannot show another connection.
      const c = listed.find((x) => x.connectionId === connectionId && x.providerConfigKey === integrationId);
      if (!c) return { ok: false, status: 404, code: 'unknown_connection', message: 'Nango lists no such connection' };
      return { ok: true, metadata: scrubValue(c.metadata) };
    } catch (e) {
      const code = networkCode(e);
      return { ok: false, code: 'network_error', message: scrub(`cannot reach ${host}${code ? ` (${code})` : ''}`) };
    }
  };
  return { host, metadataOf, close: () => agent.close() };
}

function tryStringify(v: unknown): string | undefined {
  try {
    return JSON.stringify(v)?.slice(0, MAX_ERROR_BODY_BYTES);
  } catch {
    return undefined;
  }
}

/** Nango's StdError with its details; a proxy's page as the runtime's excerpt of it, which says more than the status alone. */
function failureOf(status: number, text: string, key: string): MetadataResult {
  const err = (tryJson(text) as { error?: { code?: unknown; message?: unknown; errors?: unknown } } | undefined)?.error;
  if (err && typeof err === 'object') {
    // A key split across the fields hides in each alone (each is scrubbed on its own below): when,
    // once its plain quotes are cut out, they still carry a piece of it together (in any order),
    // none is shown, as the runtime's errors do.
    const fields = [err.code, err.message, err.errors].map((v) => (typeof v === 'string' ? v : (tryStringify(v) ?? '')));
    if (quotedAcross(fields, [key, ...knownSecrets()])) return { ok: false, status, code: `http_${status}`, message: WITHHELD };
    // Bounded as the runtime bounds them: a code in Nango's shape, a short excerpt, the first details.
    const code = typeof err.code === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(err.code) ? err.code : `http_${status}`;
    const message = (typeof err.message === 'string' && excerptOf(err.message, [key])) || `HTTP ${status}`;
    return { ok: false, status, code, message, ...(err.errors !== undefined ? { errors: boundErrors(err.errors) } : {}) };
  }
  return { ok: false, status, code: `http_${status}`, message: excerptOf(text, [key]) || `HTTP ${status}` };
}
