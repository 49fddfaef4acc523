/**
 * What the tool prints: `list` and `inspect`, the summary, and a dry run's comparison with what Nango
 * holds. Values from DLQ messages are untrusted (a bare ingress message can hold anything), so every
 * one passes through `safe`: keys scrubbed, no control characters, bounded.
 */
import { isDeepStrictEqual } from 'node:util';
import { EXIT, scrub } from '../errors.ts';
import { columns } from '../format.ts';
import type { Ctx } from './ctx.ts';
import type { Target } from '#commons/sync/message';
import type { DlqItem, MetadataResult, Obj, QueueReport } from './read.ts';
import { dlqsFor, hasCriteria, resolveQueueUrls, scanDlqs, select } from './read.ts';

export async function listCommand(ctx: Ctx, mode: 'list' | 'inspect'): Promise<number> {
  const { args } = ctx;
  const dlqs = dlqsFor(await resolveQueueUrls(args.queues, ctx.io.env, ctx.cloudFormation), args.filter.stages);
  await ctx.nangoKey();
  const holder = ctx.holder();
  const { items, reports } = await scanDlqs(holder, dlqs, args.read, ctx.io.stderr);
  const chosen = select(items, args.filter);
  const now = ctx.io.now?.() ?? new Date();
  const summary = summarize(chosen, now);
  if (args.json) {
    const json = chosen.map((i) => itemJson(i, mode === 'inspect'));
    ctx.json({ queues: reports, matched: chosen.length, read: items.length, summary, items: json });
    return EXIT.ok;
  }
  ctx.out(renderReports(reports));
  if (hasCriteria(args.filter)) ctx.out(`${chosen.length} of ${items.length} message(s) match the filters.`);
  ctx.out(`\n${renderSummary(summary)}`);
  if (chosen.length) ctx.out(`\n${mode === 'list' ? renderList(chosen, now) : chosen.map(renderItem).join('\n\n')}`);
  return EXIT.ok;
}

export function renderReports(reports: readonly QueueReport[]): string {
  const line = (r: QueueReport) => {
    const cut = r.scanLimitReached ? `; stopped at --scan-limit, ~${Math.max(0, r.approximateTotal - r.scanned)} not read` : '';
    const behind = r.fifo
      ? `; ~${r.notReached} more wait behind these in their FIFO message groups (SQS hands a group out in order only; replay reaches them once the ones ahead are replayed)`
      : `; ~${r.notReached} arrived or became visible during the scan`;
    return `${r.stage} DLQ ${safe(r.url, 200)}: read ${r.scanned} message(s)${cut}${r.notReached > 0 ? behind : ''}`;
  };
  return reports.map(line).join('\n');
}

/** The JSON view of an item; `full` adds the envelope, the raw body and what replay would send. */
export function itemJson(i: DlqItem, full: boolean): Record<string, unknown> {
  return {
    ...pick(i, 'messageId', 'stage', 'dlqStage', 'kind', 'errorCode', 'errorMessage', 'status', 'retryable', 'eventType', 'eventSource'),
    ...pick(i, 'eventIds', 'connectionId', 'providerConfigKey'),
    failedAt: i.failedAt.toISOString(),
    ...pick(i, 'attempts', 'dlqReceiveCount', 'patch'),
    replayable: i.replay.ok,
    ...(i.replay.ok ? {} : { notReplayableReason: i.replay.reason }),
    ...(full ? { envelope: i.envelope, ...(i.envelope ? {} : { body: i.body }), messageAttributes: i.held.messageAttributes } : {}),
    ...(full ? { replayMessages: i.replay.ok ? i.replay.messages : [] } : {}),
  };
}

const pick = <T, K extends keyof T>(o: T, ...keys: K[]) => Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;

/** Keys scrubbed first (a cut must not leave a key's prefix), control characters (C0, DEL, C1) shown as escapes; long values cut. */
export function safe(v: unknown, max = 120): string {
  const s = scrub(typeof v === 'string' ? v : v === undefined ? '' : (JSON.stringify(v) ?? String(v)));
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** A metadata value as JSON, so "5" and 5 read differently. */
const val = (v: unknown, max: number) => safe(v === undefined ? '' : (JSON.stringify(v) ?? String(v)), max);

function table(headers: string[], rows: string[][]): string {
  const rule = headers.map((h, i) => '-'.repeat(Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))));
  return columns([headers, rule, ...rows]).join('\n');
}

// ---- the summary: counts only, so text and JSON show the same numbers --------------------------

/** Age buckets, youngest first, each with the age it stays under. */
const AGES: Record<string, number> = { '< 1h': 3_600_000, '1h-24h': 86_400_000, '1d-7d': 7 * 86_400_000, '> 7d': Infinity };

export function ageBucket(failedAt: Date, now: Date): string {
  const age = Math.max(0, now.getTime() - failedAt.getTime());
  return Object.keys(AGES).find((b) => age < AGES[b]!) ?? '> 7d';
}
const connection = (i: DlqItem) => JSON.stringify({ providerConfigKey: i.providerConfigKey ?? '', connectionId: i.connectionId ?? '' });

export function summarize(items: readonly DlqItem[], now: Date = new Date()) {
  const times = items.map((i) => i.failedAt.getTime()).filter((t) => t > 0);
  const withConnection = items.filter((i) => i.connectionId !== undefined);
  return {
    total: items.length,
    replayable: items.filter((i) => i.replay.ok).length,
    byStage: countBy(items, (i) => i.stage),
    byKind: countBy(items, (i) => i.kind),
    byErrorCode: countBy(items, (i) => i.errorCode),
    byEventType: countBy(items, (i) => i.eventType ?? '(unknown)'),
    byConnection: countBy(withConnection, connection).map((c) => ({ ...c, key: JSON.parse(c.key) as Target })),
    // Buckets in age order, not by count: the distribution reads left to right.
    byAge: countBy(items, (i) => ageBucket(i.failedAt, now)).sort((a, b) => AGES[a.key]! - AGES[b.key]!),
    // reduce, not Math.min(...): a spread of a large DLQ would overflow the stack.
    oldest: times.length ? new Date(times.reduce((a, b) => Math.min(a, b))).toISOString() : undefined,
    newest: times.length ? new Date(times.reduce((a, b) => Math.max(a, b))).toISOString() : undefined,
  };
}

/** Largest group first; ties by key so output is stable. */
function countBy<T>(items: readonly T[], key: (t: T) => string) {
  const m = new Map<string, number>();
  for (const it of items) m.set(key(it), (m.get(key(it)) ?? 0) + 1);
  return [...m].map(([key, count]) => ({ key, count })).sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export function renderSummary(s: ReturnType<typeof summarize>): string {
  if (s.total === 0) return 'No messages.';
  const parts = [`${s.total} message(s), ${s.replayable} replayable. Oldest failure ${s.oldest ?? '-'}, newest ${s.newest ?? '-'}.`];
  const block = (title: string, rows: ReturnType<typeof countBy>, cells = rows.map((r) => [safe(r.key, 80), String(r.count)])) =>
    rows.length && parts.push(table([title, 'count'], cells));
  block('stage', s.byStage);
  block('kind', s.byKind);
  block('error code', s.byErrorCode);
  block('event type', s.byEventType);
  if (s.byConnection.length) {
    const rows = s.byConnection.map((c) => [safe(c.key.providerConfigKey, 40), safe(c.key.connectionId, 60), String(c.count)]);
    parts.push(table(['integration', 'connection', 'count'], rows));
  }
  block('age', s.byAge);
  return parts.join('\n\n');
}

export function renderList(items: readonly DlqItem[], now: Date): string {
  const rows = items.map((i) => {
    const [status, replay] = [i.status !== undefined ? String(i.status) : '-', i.replay.ok ? `${i.replay.messages.length} msg` : 'no'];
    const who = [safe(i.eventType ?? '-', 40), safe(i.providerConfigKey ?? '-', 30), safe(i.connectionId ?? '-', 40)];
    return [i.messageId, i.stage, safe(i.errorCode, 40), status, ...who, ageBucket(i.failedAt, now), replay];
  });
  return table(['message id', 'stage', 'error code', 'status', 'event type', 'integration', 'connection', 'age', 'replay'], rows);
}

export function renderItem(i: DlqItem): string {
  const env = i.envelope;
  const lines = [
    `== ${i.messageId}  [${i.stage}, ${i.kind}${i.dlqStage !== i.stage ? `, found in the ${i.dlqStage} DLQ` : ''}]`,
    `error      ${safe(i.errorCode)}${i.status !== undefined ? ` (HTTP ${i.status})` : ''}${i.retryable ? ', retryable' : ''}`,
    `message    ${safe(i.errorMessage, 400)}`,
  ];
  if (env?.error.errors !== undefined) lines.push(`details    ${safe(env.error.errors, 800)}`);
  if (i.connectionId !== undefined) lines.push(`target     ${safe(i.providerConfigKey ?? '-')} / ${safe(i.connectionId)}`);
  // Version 2 syncs carry no values: what they were about is the subjects and the keys apply tried.
  if (env?.subjects?.length) lines.push(`subjects   ${env.subjects.map((s) => safe(s, 120)).join(', ')}`);
  if (env?.keys?.length) lines.push(`keys       ${env.keys.map((k) => safe(k, 80)).join(', ')}`);
  if (i.eventType !== undefined || i.eventIds.length) {
    const ids = i.eventIds.map((e) => safe(e, 80)).join(', ') || '-';
    lines.push(`events     ${safe(i.eventType ?? '-')} from ${safe(i.eventSource ?? '-')}: ${ids}`);
  }
  const attempts = env && `attempts   ${env.attempts}; first failure ${env.firstFailureAt}, last ${env.lastFailureAt}`;
  lines.push(attempts || `enqueued   ${i.failedAt.toISOString()}`);
  if (i.patch !== undefined) lines.push(`patch      ${safe(i.patch, 800)}`);
  if (!i.replay.ok) lines.push(`replay     not possible: ${safe(i.replay.reason)}`);
  if (i.kind === 'malformed') lines.push(`body       ${safe(i.body, 800)}`);
  for (const m of i.replay.ok ? i.replay.messages : [])
    lines.push(`replay  -> ${m.queue}${m.groupId ? ` (group ${m.groupId.slice(0, 12)}…)` : ''}: ${safe(m.body, 400)}`);
  return lines.join('\n');
}

// ---- a dry run beside Nango's current metadata ------------------------------------------------

/** Version 1 kept per-key event times in the metadata under this key (version 2 none); read to explain a version 1 patch. */
const VERSIONS_KEY = '_metadataSyncVersions';

/** What a shallow merge of `patch` into `current` would change, key by key; `stale`: Nango holds a value set by a newer event. */
export function comparePatch(current: Obj | null, patch: Obj, keyTimes: Record<string, string> = {}) {
  const cur = current ?? {};
  const v = current?.[VERSIONS_KEY];
  const versions = (v && typeof v === 'object' && !Array.isArray(v) ? v : {}) as Obj;
  const keys = Object.keys(patch)
    .filter((k) => k !== VERSIONS_KEY)
    .map((key) => {
      const [present, seen, same] = [Object.hasOwn(cur, key), versions[key], isDeepStrictEqual(cur[key], patch[key])];
      const stale = present && !same && typeof seen === 'string' && keyTimes[key] !== undefined && seen > keyTimes[key];
      const change = stale ? 'stale' : !present ? 'new' : same ? 'unchanged' : 'overwrites';
      return { key, current: cur[key], patch: patch[key], change, present, ...(stale ? { newerEventAt: seen } : {}) };
    });
  return { keys, untouched: Object.keys(cur).filter((k) => k !== VERSIONS_KEY && !Object.hasOwn(patch, k)).length };
}

const keyValues = (o: Obj, skip?: string) => Object.entries(o).flatMap(([k, v]) => (k === skip ? [] : [[safe(k, 40), val(v, 60)]]));

export function renderComparison(patch: Obj, current: MetadataResult | undefined, keyTimes: Record<string, string> = {}) {
  const plain = table(['key', 'patch'], keyValues(patch));
  if (!current) return plain;
  if (!current.ok) return `${plain}\n  ! ${readFailure(current)}`;
  const cmp = comparePatch(current.metadata, patch, keyTimes);
  const effect = (k: (typeof cmp.keys)[number]) =>
    k.change === 'stale' ? `stale: kept, a newer event (${k.newerEventAt}) set it` : k.change;
  const rows = cmp.keys.map((k) => [safe(k.key, 40), k.present ? val(k.current, 50) : '(absent)', val(k.patch, 50), effect(k)]);
  return `${table(['key', 'current (Nango)', 'patch', 'effect'], rows)}\n  ${cmp.untouched} other key(s) of the connection stay as they are.`;
}

/** A sync replay sends the connection's latest desired state: show what Nango holds now, key by key. */
export function renderCurrent(current: MetadataResult | undefined): string {
  if (!current) return '(current metadata not read)';
  if (!current.ok) return `! ${readFailure(current)}`;
  const rows = keyValues(current.metadata ?? {}, VERSIONS_KEY);
  return rows.length ? `current metadata (Nango):\n${table(['key', 'value'], rows)}` : 'current metadata (Nango): none';
}

/** Why the current metadata could not be read, with Nango's details when it sent any (scrubbed by `safe`). */
function readFailure(f: Extract<MetadataResult, { ok: false }>): string {
  if (f.code === 'unknown_connection') return 'Nango does not know this connection: the replay would fail again.';
  const head = `could not read the current metadata: ${safe(f.code)}${f.status ? ` (HTTP ${f.status})` : ''} ${safe(f.message, 300)}`;
  return f.errors !== undefined ? `${head}\n    details ${safe(f.errors, 400)}` : head;
}
