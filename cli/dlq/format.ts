/**
 * Human-readable output. Values from DLQ messages are untrusted (a bare ingress message can hold
 * anything), so every one passes through `safe` before reaching the terminal: keys scrubbed, no
 * control characters, no escape sequences, bounded length.
 */
import { isDeepStrictEqual } from 'node:util';
import type { MetadataResult } from './nango.ts';
import type { DlqItem } from './model.ts';
import { scrub } from './scrub.ts';
import { ageBucket, type Summary } from './summary.ts';

/**
 * Version 1 kept per-key event times in the connection's metadata under this key; version 2 keeps
 * none. Read only to explain a version 1 patch in a dry run.
 */
const VERSIONS_KEY = '_metadataSyncVersions';

function readVersions(metadata: Record<string, unknown> | null): Record<string, string> {
  const v = metadata?.[VERSIONS_KEY];
  if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Keys scrubbed first (a cut must not leave a key's prefix), control characters (C0, DEL, C1) shown as escapes; long values cut. */
export function safe(v: unknown, max = 120): string {
  const s = scrub(typeof v === 'string' ? v : v === undefined ? '' : (JSON.stringify(v) ?? String(v)));
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** A metadata value as JSON, so "5" and 5 read differently. */
const val = (v: unknown, max: number) => safe(v === undefined ? '' : (JSON.stringify(v) ?? String(v)), max);

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(headers), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].join('\n');
}

export function renderSummary(s: Summary): string {
  if (s.total === 0) return 'No messages.';
  const parts: string[] = [];
  parts.push(`${s.total} message(s), ${s.replayable} replayable. Oldest failure ${s.oldest ?? '-'}, newest ${s.newest ?? '-'}.`);
  const block = (title: string, rows: { key: string; count: number }[]) => {
    if (rows.length)
      parts.push(
        table(
          [title, 'count'],
          rows.map((r) => [safe(r.key, 80), String(r.count)]),
        ),
      );
  };
  block('stage', s.byStage);
  block('kind', s.byKind);
  block('error code', s.byErrorCode);
  block('event type', s.byEventType);
  if (s.byConnection.length) {
    parts.push(
      table(
        ['integration', 'connection', 'count'],
        s.byConnection.map((c) => [safe(c.key.providerConfigKey, 40), safe(c.key.connectionId, 60), String(c.count)]),
      ),
    );
  }
  block('age', s.byAge);
  return parts.join('\n\n');
}

export function renderList(items: readonly DlqItem[], now: Date): string {
  if (!items.length) return '';
  return table(
    ['message id', 'stage', 'error code', 'status', 'event type', 'integration', 'connection', 'age', 'replay'],
    items.map((i) => [
      i.messageId,
      i.stage,
      safe(i.errorCode, 40),
      i.status !== undefined ? String(i.status) : '-',
      safe(i.eventType ?? '-', 40),
      safe(i.providerConfigKey ?? '-', 30),
      safe(i.connectionId ?? '-', 40),
      ageBucket(i.failedAt, now),
      i.replay.ok ? `${i.replay.messages.length} msg` : 'no',
    ]),
  );
}

export function renderItem(i: DlqItem): string {
  const lines: string[] = [];
  lines.push(`== ${i.messageId}  [${i.stage}, ${i.kind}${i.dlqStage !== i.stage ? `, found in the ${i.dlqStage} DLQ` : ''}]`);
  lines.push(`error      ${safe(i.errorCode)}${i.status !== undefined ? ` (HTTP ${i.status})` : ''}${i.retryable ? ', retryable' : ''}`);
  lines.push(`message    ${safe(i.errorMessage, 400)}`);
  const details = i.envelope?.error.errors;
  if (details !== undefined) lines.push(`details    ${safe(details, 800)}`);
  if (i.connectionId !== undefined) lines.push(`target     ${safe(i.providerConfigKey ?? '-')} / ${safe(i.connectionId)}`);
  // Version 2 syncs carry no values: what they were about is the subjects and the keys apply tried.
  const subjects = i.envelope?.subjects ?? [];
  if (subjects.length) lines.push(`subjects   ${subjects.map((s) => safe(s, 120)).join(', ')}`);
  const keys = i.envelope?.keys ?? [];
  if (keys.length) lines.push(`keys       ${keys.map((k) => safe(k, 80)).join(', ')}`);
  if (i.eventType !== undefined || i.eventIds.length) {
    lines.push(
      `events     ${safe(i.eventType ?? '-')} from ${safe(i.eventSource ?? '-')}: ${i.eventIds.map((e) => safe(e, 80)).join(', ') || '-'}`,
    );
  }
  if (i.envelope) {
    lines.push(`attempts   ${i.envelope.attempts}; first failure ${i.envelope.firstFailureAt}, last ${i.envelope.lastFailureAt}`);
  } else {
    lines.push(`enqueued   ${i.failedAt.toISOString()}`);
  }
  if (i.patch !== undefined) lines.push(`patch      ${safe(i.patch, 800)}`);
  if (i.replay.ok) {
    for (const m of i.replay.messages) {
      lines.push(`replay  -> ${m.queue}${m.groupId ? ` (group ${m.groupId.slice(0, 12)}…)` : ''}: ${safe(m.body, 400)}`);
    }
  } else {
    lines.push(`replay     not possible: ${safe(i.replay.reason)}`);
    if (i.kind === 'malformed') lines.push(`body       ${safe(i.body, 800)}`);
  }
  return lines.join('\n');
}

/** Key by key, what replaying a version 1 patch envelope would do; `stale`: Nango holds a value set by a newer event. */
export type KeyChange = 'new' | 'overwrites' | 'unchanged' | 'stale';

export interface PatchComparison {
  keys: { key: string; current: unknown; patch: unknown; change: KeyChange; present: boolean; newerEventAt?: string }[];
  /** Keys the connection has that the patch leaves alone (shallow merge). */
  untouched: number;
}

/** What a shallow merge of `patch` into `current` would change, key by key. */
export function comparePatch(
  current: Record<string, unknown> | null,
  patch: Record<string, unknown>,
  keyTimes: Record<string, string> = {},
): PatchComparison {
  const cur = current ?? {};
  const versions = readVersions(current);
  const keys = Object.keys(patch)
    .filter((k) => k !== VERSIONS_KEY)
    .map((key) => {
      const present = Object.hasOwn(cur, key);
      const seen = versions[key];
      const mine = keyTimes[key];
      if (present && seen !== undefined && mine !== undefined && seen > mine && !isDeepStrictEqual(cur[key], patch[key])) {
        return { key, current: cur[key], patch: patch[key], change: 'stale' as const, present, newerEventAt: seen };
      }
      const change: KeyChange = !present ? 'new' : isDeepStrictEqual(cur[key], patch[key]) ? 'unchanged' : 'overwrites';
      return { key, current: cur[key], patch: patch[key], change, present };
    });
  return { keys, untouched: Object.keys(cur).filter((k) => k !== VERSIONS_KEY && !Object.hasOwn(patch, k)).length };
}

export function renderComparison(
  patch: Record<string, unknown>,
  current: MetadataResult | undefined,
  keyTimes: Record<string, string> = {},
): string {
  if (!current) {
    return table(
      ['key', 'patch'],
      Object.entries(patch).map(([k, v]) => [safe(k, 40), val(v, 60)]),
    );
  }
  if (!current.ok) {
    return `${table(
      ['key', 'patch'],
      Object.entries(patch).map(([k, v]) => [safe(k, 40), val(v, 60)]),
    )}\n  ! ${readFailure(current)}`;
  }
  const cmp = comparePatch(current.metadata, patch, keyTimes);
  const rows = cmp.keys.map((k) => [
    safe(k.key, 40),
    k.present ? val(k.current, 50) : '(absent)',
    val(k.patch, 50),
    k.change === 'stale' ? `stale: kept, a newer event (${k.newerEventAt}) set it` : k.change,
  ]);
  return `${table(['key', 'current (Nango)', 'patch', 'effect'], rows)}\n  ${cmp.untouched} other key(s) of the connection stay as they are.`;
}

/** Why the current metadata could not be read, with Nango's details when it sent any (scrubbed by `safe`). */
function readFailure(f: Extract<MetadataResult, { ok: false }>): string {
  if (f.code === 'unknown_connection') return 'Nango does not know this connection: the replay would fail again.';
  const head = `could not read the current metadata: ${safe(f.code)}${f.status ? ` (HTTP ${f.status})` : ''} ${safe(f.message, 300)}`;
  return f.errors !== undefined ? `${head}\n    details ${safe(f.errors, 400)}` : head;
}

/** A sync replay sends the connection's latest desired state: show what Nango holds now, key by key. */
export function renderCurrent(current: MetadataResult | undefined): string {
  if (!current) return '(current metadata not read)';
  if (!current.ok) return `! ${readFailure(current)}`;
  const entries = Object.entries(current.metadata ?? {}).filter(([k]) => k !== VERSIONS_KEY);
  if (!entries.length) return 'current metadata (Nango): none';
  return `current metadata (Nango):\n${table(
    ['key', 'value'],
    entries.map(([k, v]) => [safe(k, 40), val(v, 60)]),
  )}`;
}
