/**
 * What a local run did, joined from three sources that do not depend on log parsing: the events the
 * CLI sent, the patch messages the apply stage received (and whether they were deleted), and the
 * DLQ contents (envelopes name the events and original messages they hold). Rendered for people or
 * as JSON.
 */
import { VERSIONS_KEY } from '#commons/apply/ordering';
import type { DlqMessage, ObservedPatch, SentEvent } from '../local/pipeline.ts';
import { colorWanted, columns, compactJson, duration, indent, plural, style, type Out } from './format.ts';

export interface SentItem extends SentEvent {
  /** Where the event came from, e.g. `events/samples/02-acme-burst.json#1`. */
  origin: string;
  source?: string;
  detailType?: string;
}

export interface ErrorInfo {
  stage: 'route' | 'apply';
  code: string;
  status?: number;
  message: string;
}

export interface PatchReport {
  connectionId: string;
  providerConfigKey: string;
  patch: Record<string, unknown>;
  outcome: 'applied' | 'dlq' | 'pending';
  deliveries: number;
  error?: ErrorInfo;
}

export interface EventReport {
  eventId: string;
  messageId: string;
  origin: string;
  source?: string;
  detailType?: string;
  /** applied: every patch applied; dlq: nothing applied; partial: some of each; pending: not finished. */
  outcome: 'applied' | 'partial' | 'dlq' | 'pending';
  patches: PatchReport[];
  /** Set when route parked the event itself. */
  routeError?: ErrorInfo;
}

export interface ConnectionReport {
  connectionId: string;
  providerConfigKey: string;
  /** undefined: the connection does not exist in Nango (or could not be read: see readError). */
  metadata: Record<string, unknown> | null | undefined;
  touched: boolean;
  readError?: string;
}

export interface DlqReport {
  queue: DlqMessage['queue'];
  messageId: string;
  stage: 'route' | 'apply';
  code: string;
  status?: number;
  message: string;
  retryable?: boolean;
  connectionId?: string;
  providerConfigKey?: string;
  eventIds: string[];
  attempts?: number;
  /** SQS's redrive moved it: no envelope, no error. */
  bare: boolean;
}

export interface RunReport {
  nango: { url: string; kind: 'stand-in' | 'real'; endpoint: 'current' | 'legacy' };
  events: EventReport[];
  connections: ConnectionReport[];
  dlq: DlqReport[];
  summary: {
    events: number;
    applied: number;
    partial: number;
    dlq: number;
    pending: number;
    patchMessages: number;
    /** PATCH requests the Nango stand-in received (undefined with a real Nango). */
    nangoPatchRequests?: number;
    routeInvocations: number;
    applyInvocations: number;
    dlqMessages: { ingress: number; patches: number };
    durationMs: number;
  };
  logFile?: string;
}

const BARE: Omit<DlqReport, 'queue' | 'messageId' | 'stage' | 'eventIds'> = {
  code: 'redriven_by_sqs',
  message: 'moved by SQS after maxReceiveCount (no envelope: the function crashed or timed out on every attempt)',
  bare: true,
};

export function dlqReport(m: DlqMessage): DlqReport {
  const stage = m.queue === 'ingress-dlq' ? 'route' : 'apply';
  const env = m.envelope;
  if (!env) return { queue: m.queue, messageId: m.messageId, stage, eventIds: [], ...BARE };
  return {
    queue: m.queue,
    messageId: m.messageId,
    stage: env.stage,
    code: env.error.code,
    ...(env.error.status !== undefined ? { status: env.error.status } : {}),
    message: env.error.message,
    retryable: env.error.retryable,
    ...(env.target ? { connectionId: env.target.connectionId, providerConfigKey: env.target.providerConfigKey } : {}),
    eventIds: env.events.map((e) => e.id),
    attempts: env.attempts,
    bare: false,
  };
}

const errorOf = (d: DlqReport): ErrorInfo => ({
  stage: d.stage,
  code: d.code,
  ...(d.status !== undefined ? { status: d.status } : {}),
  message: d.message,
});

export function buildEvents(sent: readonly SentItem[], patches: readonly ObservedPatch[], dlq: readonly DlqMessage[]): EventReport[] {
  // Index the DLQ by the message ids it holds (envelope originals, or the bare message itself) and event ids.
  const byOriginal = new Map<string, DlqReport>();
  const routeByEvent = new Map<string, DlqReport>();
  for (const m of dlq) {
    const r = dlqReport(m);
    byOriginal.set(m.messageId, r);
    for (const o of m.envelope?.originals ?? []) byOriginal.set(o.messageId, r);
    if (r.stage === 'route') for (const id of r.eventIds) routeByEvent.set(id, r);
  }
  const patchesByEvent = new Map<string, ObservedPatch[]>();
  for (const p of patches) {
    const id = p.message?.event.id;
    if (id === undefined) continue;
    let list = patchesByEvent.get(id);
    if (!list) patchesByEvent.set(id, (list = []));
    list.push(p);
  }

  return sent.map((s) => {
    const route = byOriginal.get(s.messageId) ?? routeByEvent.get(s.eventId);
    const ps: PatchReport[] = (patchesByEvent.get(s.eventId) ?? []).map((p) => {
      const d = byOriginal.get(p.messageId);
      const outcome: PatchReport['outcome'] = d ? 'dlq' : p.deleted ? 'applied' : 'pending';
      return {
        connectionId: p.message!.target.connectionId,
        providerConfigKey: p.message!.target.providerConfigKey,
        patch: p.message!.patch,
        outcome,
        deliveries: p.deliveries,
        ...(d ? { error: errorOf(d) } : {}),
      };
    });
    let outcome: EventReport['outcome'];
    if (route && route.stage === 'route') outcome = 'dlq';
    else if (ps.length === 0) outcome = 'pending';
    else if (ps.some((p) => p.outcome === 'pending')) outcome = 'pending';
    else if (ps.every((p) => p.outcome === 'applied')) outcome = 'applied';
    else if (ps.every((p) => p.outcome === 'dlq')) outcome = 'dlq';
    else outcome = 'partial';
    return {
      eventId: s.eventId,
      messageId: s.messageId,
      origin: s.origin,
      ...(s.source ? { source: s.source } : {}),
      ...(s.detailType ? { detailType: s.detailType } : {}),
      outcome,
      patches: ps,
      ...(route && route.stage === 'route' ? { routeError: errorOf(route) } : {}),
    };
  });
}

export function summarize(
  events: readonly EventReport[],
): Pick<RunReport['summary'], 'events' | 'applied' | 'partial' | 'dlq' | 'pending' | 'patchMessages'> {
  const n = (o: EventReport['outcome']) => events.filter((e) => e.outcome === o).length;
  return {
    events: events.length,
    applied: n('applied'),
    partial: n('partial'),
    dlq: n('dlq'),
    pending: n('pending'),
    patchMessages: events.reduce((a, e) => a + e.patches.length, 0),
  };
}

const target = (connectionId: string, providerConfigKey: string) => `${connectionId} / ${providerConfigKey}`;

/** Error messages (zod's are multi-line) on one line. */
const oneLine = (m: string) => m.replace(/\s*\n\s*/g, '; ').trim();

/** The metadata without apply's ordering bookkeeping, unless asked for. */
function shownMetadata(m: Record<string, unknown> | null, all: boolean): Record<string, unknown> | null {
  if (all || !m || !(VERSIONS_KEY in m)) return m;
  const { [VERSIONS_KEY]: _hidden, ...rest } = m;
  return rest;
}

export interface RenderOptions {
  /** Show apply's per-key event-time versions stored in the metadata. */
  showVersions?: boolean;
}

export function renderReport(r: RunReport, out: Out, o: RenderOptions = {}): string {
  const s = style(colorWanted(out));
  const lines: string[] = [];
  const outcomeText = (o: EventReport['outcome'] | PatchReport['outcome']) =>
    o === 'applied' ? s.green('applied') : o === 'dlq' ? s.red('DLQ') : o === 'partial' ? s.yellow('partly applied') : s.yellow('pending');
  const errText = (e: ErrorInfo) =>
    `${e.stage} ${s.bold(e.code)}${e.status !== undefined ? ` (HTTP ${e.status})` : ''}: ${oneLine(e.message)}`;

  lines.push(s.bold(`Events (${r.events.length})`));
  for (const e of r.events) {
    const type = e.detailType ? `${e.source ?? '?'} ${e.detailType}` : '(no detail-type)';
    const id = e.eventId === e.messageId ? `${s.bold(e.eventId)} ${s.dim('(no id: the SQS message id)')}` : s.bold(e.eventId);
    lines.push(`  ${outcomeText(e.outcome)}  ${id}  ${type}  ${s.dim(e.origin)}`);
    if (e.routeError) lines.push(...indent([`${s.red('x')} ${errText(e.routeError)}`], 6));
    const rows = e.patches.map((p) => [
      `-> ${target(p.connectionId, p.providerConfigKey)}`,
      compactJson(p.patch, 100),
      p.outcome === 'dlq' && p.error ? `${outcomeText('dlq')} ${errText(p.error)}` : outcomeText(p.outcome),
    ]);
    lines.push(...indent(columns(rows), 6));
  }

  const hidden = !o.showVersions && r.connections.some((c) => c.metadata && VERSIONS_KEY in c.metadata);
  lines.push('', s.bold(`Connections: final metadata (${r.nango.kind === 'stand-in' ? 'Nango stand-in' : r.nango.url})`));
  if (hidden) lines.push(s.dim(`  (apply's event-time bookkeeping key ${VERSIONS_KEY} not shown; --verbose shows it)`));
  const sorted = [...r.connections].sort(
    (a, b) => a.connectionId.localeCompare(b.connectionId) || a.providerConfigKey.localeCompare(b.providerConfigKey),
  );
  const rows = sorted.map((c) => [
    target(c.connectionId, c.providerConfigKey),
    (c.readError
      ? s.red(`(could not read it: ${c.readError})`)
      : c.metadata === undefined
        ? s.red('(no such connection)')
        : compactJson(shownMetadata(c.metadata, o.showVersions ?? false), 400)) + (c.touched ? '' : `  ${s.dim('(no events)')}`),
  ]);
  lines.push(...indent(columns(rows)));

  const ingress = r.dlq.filter((d) => d.queue === 'ingress-dlq');
  const patches = r.dlq.filter((d) => d.queue === 'patches-dlq');
  for (const [title, list] of [
    ['ingress DLQ (route failures)', ingress],
    ['patches DLQ (apply failures)', patches],
  ] as const) {
    lines.push('', s.bold(`${title}: ${plural(list.length, 'message')}`));
    for (const d of list) {
      const where = d.connectionId !== undefined ? `  ${target(d.connectionId, d.providerConfigKey ?? '?')}` : '';
      lines.push(`  ${s.red(d.code)}${d.status !== undefined ? ` (HTTP ${d.status})` : ''}  [${d.stage}]${where}`);
      lines.push(
        ...indent(
          [oneLine(d.message), `events: ${d.eventIds.join(', ') || '-'}${d.attempts !== undefined ? `  attempts: ${d.attempts}` : ''}`],
          6,
        ).map(s.dim),
      );
    }
  }

  const m = r.summary;
  lines.push(
    '',
    s.bold('Summary'),
    `  ${plural(m.events, 'event')}: ${s.green(`${m.applied} applied`)}, ${m.partial} partly applied, ${m.dlq ? s.red(`${m.dlq} in a DLQ`) : '0 in a DLQ'}, ${m.pending ? s.yellow(`${m.pending} pending`) : '0 pending'}`,
    `  ${plural(m.patchMessages, 'patch message')}${m.nangoPatchRequests !== undefined ? ` -> ${plural(m.nangoPatchRequests, 'PATCH request')} to Nango` : ''}; route ran ${plural(m.routeInvocations, 'time')}, apply ${plural(m.applyInvocations, 'time')}; ${duration(m.durationMs)}`,
    `  DLQ: ${m.dlqMessages.ingress} in ingress-dlq, ${m.dlqMessages.patches} in patches-dlq.fifo`,
  );
  if (r.logFile) lines.push(`  handler logs: ${r.logFile}`);
  return lines.join('\n') + '\n';
}
