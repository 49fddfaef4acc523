/**
 * An EventBridge PutEvents stand-in on 127.0.0.1: the AWS JSON 1.1 protocol
 * (`X-Amz-Target: AWSEvents.PutEvents`), so the real @aws-sdk/client-eventbridge client with an
 * endpoint override talks to it. It validates entries as EventBridge does, assigns ids, stamps the
 * time, and forwards each entry whose (source, detail-type) the rule matches (the catalog's pairs,
 * passed in) to a target queue as the EventBridge envelope the deployed rule delivers. Entries for
 * another bus are accepted and dropped, as EventBridge does with a bus that does not exist.
 * A hook injects per-entry failures (ThrottlingException for the first N, say) for retry tests.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { listenOnLoopback } from './loopback-server.ts';

export interface EventBridgeRule {
  /** The (source, detail-type) pairs the rule matches. */
  matches: readonly { source: string; detailType: string }[];
  /** Where matching events go (the ingress queue), and a client that reaches it. */
  queueUrl: string;
  sqs: SQSClient;
}

/** One entry as received, with its 1-based number among all entries since start. */
export interface ReceivedEntry {
  n: number;
  source?: string | undefined;
  detailType?: string | undefined;
  detail?: string | undefined;
  busName: string;
}

export type EntryFault = { code: string; message?: string } | undefined;
export type EntryFaultHook = (entry: ReceivedEntry) => EntryFault;

export interface EventBridgeStandinOptions {
  /** The bus the rule is on (default `default`); the name or its ARN is accepted. */
  busName?: string;
  rule?: EventBridgeRule;
  account?: string;
  region?: string;
  fault?: EntryFaultHook;
}

/** An entry EventBridge accepted, as it would be delivered. */
export interface DeliveredEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: unknown;
}

export interface EventBridgeStandin {
  /** http://127.0.0.1:<port>, for `endpoint` or AWS_ENDPOINT_URL_EVENTBRIDGE. */
  url: string;
  /** One line per request: its operation and how many entries it carried. */
  requests: { target: string; entries: number }[];
  /** Every entry accepted, on any bus. */
  accepted: (DeliveredEvent & { busName: string })[];
  /** Entries put on the rule's queue. */
  forwarded(): number;
  setFault(hook: EntryFaultHook | undefined): void;
  close(): Promise<void>;
}

/** Fails the first `count` entries received with ThrottlingException (retryable, as EventBridge documents). */
export function throttleFirst(count: number): EntryFaultHook {
  return (e) => (e.n <= count ? { code: 'ThrottlingException', message: 'Rate exceeded' } : undefined);
}

const MAX_ENTRIES = 10;
const MAX_REQUEST_BYTES = 256 * 1024;
const JSON_11 = 'application/x-amz-json-1.1';

interface WireEntry {
  Source?: unknown;
  DetailType?: unknown;
  Detail?: unknown;
  Time?: unknown;
  EventBusName?: unknown;
  Resources?: unknown;
}

/** EventBridge's entry size: 14 bytes for the time, plus the UTF-8 bytes of source, detail-type, detail and resources. */
export function entrySize(e: { Source?: string; DetailType?: string; Detail?: string; Resources?: string[] }): number {
  const b = (s: string | undefined) => (s ? Buffer.byteLength(s, 'utf8') : 0);
  return 14 + b(e.Source) + b(e.DetailType) + b(e.Detail) + (e.Resources ?? []).reduce((n, r) => n + b(r), 0);
}

export async function startEventBridgeStandin(opts: EventBridgeStandinOptions = {}): Promise<EventBridgeStandin> {
  const account = opts.account ?? '000000000000';
  const region = opts.region ?? 'us-east-1';
  const busName = opts.busName ?? 'default';
  const busArn = `arn:aws:events:${region}:${account}:event-bus/${busName}`;
  const allowed = new Set((opts.rule?.matches ?? []).map((m) => `${m.source}\u0000${m.detailType}`));
  let fault = opts.fault;
  let n = 0;
  let forwarded = 0;
  const requests: EventBridgeStandin['requests'] = [];
  const accepted: EventBridgeStandin['accepted'] = [];

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': JSON_11, 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
  };
  const clientError = (res: http.ServerResponse, type: string, message: string) => send(res, 400, { __type: type, message });

  /** One entry: an error code, or the event as delivered. */
  async function put(e: WireEntry): Promise<{ EventId: string } | { ErrorCode: string; ErrorMessage: string }> {
    const bus = typeof e.EventBusName === 'string' && e.EventBusName ? e.EventBusName : 'default';
    const injected = fault?.({
      n: ++n,
      source: typeof e.Source === 'string' ? e.Source : undefined,
      detailType: typeof e.DetailType === 'string' ? e.DetailType : undefined,
      detail: typeof e.Detail === 'string' ? e.Detail : undefined,
      busName: bus,
    });
    if (injected) return { ErrorCode: injected.code, ErrorMessage: injected.message ?? injected.code };
    for (const [k, label] of [
      ['Source', 'Source'],
      ['DetailType', 'DetailType'],
      ['Detail', 'Detail'],
    ] as const) {
      if (typeof e[k] !== 'string' || e[k] === '') {
        return { ErrorCode: 'InvalidArgument', ErrorMessage: `Parameter ${label} is not valid. Reason: ${label} is a required argument.` };
      }
    }
    let detail: unknown;
    try {
      detail = JSON.parse(e.Detail as string);
    } catch {
      detail = undefined;
    }
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    const at = e.Time === undefined ? new Date() : typeof e.Time === 'number' ? new Date(e.Time * 1000) : new Date(String(e.Time));
    if (Number.isNaN(at.getTime())) return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter Time is not valid.' };
    const event: DeliveredEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': e.DetailType as string,
      source: e.Source as string,
      account,
      // EventBridge keeps whole seconds.
      time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region,
      resources: Array.isArray(e.Resources) ? e.Resources.filter((r): r is string => typeof r === 'string') : [],
      detail,
    };
    accepted.push({ ...event, busName: bus });
    const onRuleBus = bus === busName || bus === busArn;
    if (onRuleBus && opts.rule && allowed.has(`${event.source}\u0000${event['detail-type']}`)) {
      // A target that cannot be reached is EventBridge's retry and DLQ business, not the caller's: the put succeeded.
      await opts.rule.sqs
        .send(new SendMessageCommand({ QueueUrl: opts.rule.queueUrl, MessageBody: JSON.stringify(event) }))
        .then(() => forwarded++)
        .catch(() => undefined);
    }
    return { EventId: event.id };
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const target = String(req.headers['x-amz-target'] ?? '');
    let body: { Entries?: unknown } | undefined;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { Entries?: unknown };
    } catch {
      return clientError(res, 'SerializationException', 'the request body is not JSON');
    }
    const entries = Array.isArray(body?.Entries) ? (body.Entries as WireEntry[]) : undefined;
    requests.push({ target, entries: entries?.length ?? 0 });
    if (req.method !== 'POST' || target !== 'AWSEvents.PutEvents') {
      return clientError(res, 'UnknownOperationException', `the stand-in implements AWSEvents.PutEvents only (got ${target || 'none'})`);
    }
    if (!entries || entries.length === 0 || entries.length > MAX_ENTRIES) {
      return clientError(
        res,
        'ValidationException',
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${MAX_ENTRIES}`,
      );
    }
    const size = entries.reduce(
      (s, e) =>
        s +
        entrySize({
          Source: typeof e.Source === 'string' ? e.Source : undefined,
          DetailType: typeof e.DetailType === 'string' ? e.DetailType : undefined,
          Detail: typeof e.Detail === 'string' ? e.Detail : undefined,
          Resources: Array.isArray(e.Resources) ? e.Resources.filter((r): r is string => typeof r === 'string') : undefined,
        }),
      0,
    );
    if (size > MAX_REQUEST_BYTES)
      return clientError(res, 'ValidationException', 'Total size of the entries in the request is over the limit.');
    const results = [];
    for (const e of entries) results.push(await put(e));
    send(res, 200, { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results });
  }

  const loopback = await listenOnLoopback((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { __type: 'InternalException', message: `stand-in crashed: ${(err as Error).message}` });
    });
  });

  return {
    url: loopback.url,
    requests,
    accepted,
    forwarded: () => forwarded,
    setFault(hook) {
      fault = hook;
    },
    close: () => loopback.close(),
  };
}
