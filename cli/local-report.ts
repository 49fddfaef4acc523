/**
 * What a local run did, joined from sources that do not depend on log parsing: the events the CLI
 * sent (mapped with the catalog, as route maps them), the state table (which event set each key),
 * the sync messages apply received, Nango's final metadata and the DLQs. Rendered for people or as JSON.
 */
import { catalog as samples } from '#events/catalog';
import { type EventDefinition, indexCatalog } from '#events/define';
import { versionOf } from '#commons/domain/order';
import type { DesiredKey } from '#commons/domain/desired';
import { parseEventBody } from '#commons/event-envelope';
import { mapEvent } from '#commons/route/map-event';
import type { DlqMessage, ObservedSync, SentEvent } from '../local/pipeline.ts';
import { colorWanted, columns, compactJson, duration, indent, plural, style, type Out } from './format.ts';

export interface SentItem extends SentEvent {
  /** Where the event came from, e.g. `events/samples/02-acme-burst.json#1`. */
  origin: string;
}

export interface EventReport {
  eventId: string;
  origin: string;
  detailType?: string;
  subject?: string;
  /** state: it set at least one key; superseded: every key it carried holds a newer write; dlq: route parked it. */
  outcome: 'state' | 'superseded' | 'dlq' | 'pending';
  keysSet: string[];
  keysSuperseded: string[];
  /** Connections whose syncs named this event. */
  syncedTo: number;
  error?: { code: string; message: string };
}

export interface SubjectReport {
  subject: string;
  keys: { key: string; value: unknown; version: number; integrations: string; event: string }[];
  connections: number;
}

export interface ConnectionReport {
  connectionId: string;
  providerConfigKey: string;
  /** undefined: the connection does not exist in Nango (or could not be read: see readError). */
  metadata: Record<string, unknown> | null | undefined;
  /** key -> version last sent. */
  applied: Record<string, number>;
  createdLater: boolean;
  readError?: string;
}

export interface DlqReport {
  queue: DlqMessage['queue'];
  code: string;
  status?: number;
  message: string;
  target?: string;
  eventIds: string[];
  /** The SQS message ids of the parked originals: an event refused before it had an id is found by these. */
  messageIds: string[];
  attempts?: number;
  bare: boolean;
}

export interface RunReport {
  nango: { url: string; kind: 'stand-in' | 'real'; endpoint: 'current' | 'legacy' };
  events: EventReport[];
  subjects: SubjectReport[];
  connections: ConnectionReport[];
  dlq: DlqReport[];
  summary: {
    events: number;
    setState: number;
    superseded: number;
    dlq: number;
    pending: number;
    syncMessages: number;
    connectionsSeeded: number;
    /** Requests the Nango stand-in received (undefined with a real Nango). */
    nango?: { patches: number; lists: number; other: number };
    routeInvocations: number;
    applyInvocations: number;
    durationMs: number;
  };
  logFile?: string;
}

export function dlqReport(m: DlqMessage): DlqReport {
  const env = m.envelope;
  if (!env)
    return {
      queue: m.queue,
      code: 'redriven_by_sqs',
      message: 'moved by SQS after maxReceiveCount (no envelope)',
      eventIds: [],
      messageIds: [m.messageId],
      bare: true,
    };
  return {
    queue: m.queue,
    code: env.error.code,
    ...(env.error.status !== undefined ? { status: env.error.status } : {}),
    message: env.error.message,
    ...(env.target ? { target: `${env.target.connectionId} / ${env.target.providerConfigKey}` } : {}),
    eventIds: env.events.map((e) => e.id),
    messageIds: env.originals.map((o) => o.messageId),
    attempts: env.attempts,
    bare: false,
  };
}

const sampleIndex = indexCatalog(samples);

/** Per event: its subject (as route maps it) and which of its keys the state table says it set. */
export function buildEvents(
  sent: readonly SentItem[],
  desired: readonly DesiredKey[],
  syncs: readonly ObservedSync[],
  dlq: readonly DlqReport[],
  drained = true,
  /** The catalog route ran with, indexed (default: the samples). */
  index: ReadonlyMap<string, EventDefinition> = sampleIndex,
): EventReport[] {
  const parked = new Map<string, DlqReport>();
  for (const d of dlq) if (d.queue === 'ingress-dlq') for (const id of [...d.eventIds, ...d.messageIds]) parked.set(id, d);
  const setBy = new Map<string, string>(desired.map((d) => [`${d.subject}\n${d.key}`, d.event.id]));
  return sent.map((s) => {
    const parsed = parseEventBody(s.body, { messageId: s.messageId });
    const mapped = parsed.ok
      ? mapEvent(parsed.event, index, { maxIntegrationsPerEvent: 1_000, maxFutureSkewMs: Number.MAX_SAFE_INTEGER, now: Date.now() })
      : undefined;
    const base = { eventId: s.eventId, origin: s.origin, ...(parsed.ok ? { detailType: parsed.event.detailType } : {}) };
    const p = parked.get(s.eventId) ?? parked.get(s.messageId);
    if (p) return { ...base, outcome: 'dlq', keysSet: [], keysSuperseded: [], syncedTo: 0, error: { code: p.code, message: p.message } };
    if (!mapped?.ok) return { ...base, outcome: 'pending', keysSet: [], keysSuperseded: [], syncedTo: 0 };
    const keys = mapped.writes.map((w) => w.key);
    const keysSet = keys.filter((k) => setBy.get(`${mapped.subject.id}\n${k}`) === s.eventId);
    // Route's change syncs, per connection: apply's settles name the events they stand for too.
    const syncedTo = new Set(
      syncs
        .filter((x) => x.message?.reason === 'change' && x.message.events.some((e) => e.id === s.eventId))
        .map((x) => `${x.message!.target.providerConfigKey}\n${x.message!.target.connectionId}`),
    ).size;
    // Not drained: an event that reached no connection may still be waiting for its lookup.
    if (!drained && syncedTo === 0)
      return { ...base, subject: mapped.subject.id, outcome: 'pending', keysSet, keysSuperseded: [], syncedTo };
    return {
      ...base,
      subject: mapped.subject.id,
      outcome: keysSet.length ? 'state' : 'superseded',
      keysSet,
      keysSuperseded: keys.filter((k) => !keysSet.includes(k)),
      syncedTo,
    };
  });
}

const oneLine = (m: string) => m.replace(/\s*\n\s*/g, '; ').trim();

export function renderReport(r: RunReport, out: Out): string {
  const s = style(colorWanted(out));
  const lines: string[] = [];
  const outcome = (o: EventReport['outcome']) =>
    o === 'state' ? s.green('state') : o === 'dlq' ? s.red('DLQ') : o === 'superseded' ? s.yellow('superseded') : s.yellow('pending');

  lines.push(s.bold(`Events (${r.events.length})`));
  for (const e of r.events) {
    lines.push(`  ${outcome(e.outcome)}  ${s.bold(e.eventId)}  ${e.detailType ?? '(unreadable)'}  ${s.dim(e.origin)}`);
    if (e.error) lines.push(...indent([`${s.red('x')} ${s.bold(e.error.code)}: ${oneLine(e.error.message)}`], 6));
    else if (e.subject) {
      const parts = [`-> ${e.subject}`, e.keysSet.length ? `set ${e.keysSet.join(', ')}` : ''];
      if (e.keysSuperseded.length) parts.push(s.dim(`(newer already stored: ${e.keysSuperseded.join(', ')})`));
      // A superseded event wrote nothing, so it had nothing to sync: not a subject without connections.
      const reach = e.syncedTo
        ? `synced to ${plural(e.syncedTo, 'connection')}`
        : e.keysSet.length
          ? 'no connection yet'
          : 'nothing to send';
      parts.push(s.dim(reach));
      lines.push(...indent([parts.filter(Boolean).join('  ')], 6));
    }
  }

  lines.push('', s.bold(`Subjects: desired state (${r.subjects.length})`));
  for (const sub of r.subjects) {
    lines.push(`  ${s.bold(sub.subject)}  ${s.dim(`${plural(sub.connections, 'connection')} known`)}`);
    const rows = sub.keys.map((k) => [
      k.key,
      compactJson(k.value, 60),
      s.dim(`v${k.version}`),
      s.dim(k.integrations),
      s.dim(`by ${k.event}`),
    ]);
    lines.push(...indent(columns(rows), 6));
  }

  lines.push('', s.bold(`Connections: final metadata at ${r.nango.kind === 'stand-in' ? 'the Nango stand-in' : r.nango.url}`));
  const rows = r.connections.map((c) => [
    `${c.connectionId} / ${c.providerConfigKey}${c.createdLater ? s.dim(' (created later)') : ''}`,
    c.readError
      ? s.red(`(could not read it: ${c.readError})`)
      : c.metadata === undefined
        ? s.red('(no such connection)')
        : compactJson(c.metadata, 300),
  ]);
  lines.push(...indent(columns(rows)));

  for (const [title, queue] of [
    ['ingress DLQ (route failures)', 'ingress-dlq'],
    ['sync DLQ (apply failures)', 'sync-dlq'],
  ] as const) {
    const list = r.dlq.filter((d) => d.queue === queue);
    lines.push('', s.bold(`${title}: ${plural(list.length, 'message')}`));
    for (const d of list) {
      lines.push(`  ${s.red(d.code)}${d.status !== undefined ? ` (HTTP ${d.status})` : ''}${d.target ? `  ${d.target}` : ''}`);
      lines.push(
        ...indent(
          [oneLine(d.message), `events: ${d.eventIds.join(', ') || '-'}${d.attempts !== undefined ? `  attempts: ${d.attempts}` : ''}`],
          6,
        ).map(s.dim),
      );
    }
  }

  const m = r.summary;
  const touched = r.connections.filter((c) => Object.keys(c.applied).length > 0).length;
  lines.push(
    '',
    s.bold('Summary'),
    `  ${plural(m.events, 'event')}: ${s.green(`${m.setState} set state`)}, ${m.superseded} superseded by newer ones, ${m.dlq ? s.red(`${m.dlq} in the ingress DLQ`) : '0 in the ingress DLQ'}${m.pending ? `, ${s.yellow(`${m.pending} pending`)}` : ''}`,
    `  ${plural(m.syncMessages, 'sync message')} (${m.connectionsSeeded} seeds of connections created later) -> ${touched} connections in step`,
    ...(m.nango
      ? [
          `  Nango: ${plural(m.nango.patches, 'PATCH', 'PATCHes')} (floor: one per connection touched = ${touched}), ${plural(m.nango.lists, 'list lookup')}, ${m.nango.other} other requests`,
        ]
      : []),
    `  route ran ${plural(m.routeInvocations, 'time')}, apply ${plural(m.applyInvocations, 'time')}; ${duration(m.durationMs)}`,
  );
  if (r.logFile) lines.push(`  handler logs: ${r.logFile}`);
  return `${lines.join('\n')}\n`;
}

/** A subject's desired state, for the report. */
export function subjectReport(subject: string, keys: readonly DesiredKey[], connections: number): SubjectReport {
  return {
    subject,
    connections,
    keys: [...keys]
      .sort((a, b) => a.key.localeCompare(b.key))
      .map((k) => ({
        key: k.key,
        value: k.value,
        version: versionOf(k.order),
        integrations: k.integrations === 'all' ? 'all integrations' : k.integrations.join(', '),
        event: k.event.id,
      })),
  };
}

export const appliedVersions = (applied: Record<string, string>): Record<string, number> =>
  Object.fromEntries(Object.entries(applied).map(([k, o]) => [k, versionOf(o)]));
