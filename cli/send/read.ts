/**
 * Reading event files: each holds one EventBridge envelope or an array of them; a directory
 * contributes its *.json files in name order. Every problem names its file, and its place (line and
 * column of a JSON syntax error, index of an event in an array), so it can be fixed at once.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../args.ts';
import { jsonErrorOffset } from './json-position.ts';

export interface EventFileEntry {
  /** Where it came from: `file` or `file[3]`. */
  where: string;
  source: string;
  detailType: string;
  detail: Record<string, unknown>;
  time?: Date | undefined;
  resources?: string[] | undefined;
  /** The envelope as read, for the queue path. */
  envelope: Record<string, unknown>;
}

export async function expandPaths(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let s: Awaited<ReturnType<typeof stat>>;
    try {
      s = await stat(p);
    } catch {
      throw new UsageError(`${p}: no such file or directory`);
    }
    if (s.isDirectory()) {
      const names = (await readdir(p)).filter((n) => n.endsWith('.json')).sort();
      if (!names.length) throw new UsageError(`${p}: the directory holds no *.json file`);
      out.push(...names.map((n) => join(p, n)));
    } else {
      out.push(p);
    }
  }
  return out;
}

export async function readEventFile(file: string): Promise<EventFileEntry[]> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`${file}: cannot read (${e.code ?? e.message})`);
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${file}: invalid JSON ${place(text)}: ${(e as Error).message.split('\n')[0]}`);
  }
  const list = Array.isArray(json) ? json : [json];
  if (!list.length) throw new UsageError(`${file}: an empty array holds no event`);
  return list.map((ev, i) => checkEvent(ev, Array.isArray(json) ? `${file}[${i}]` : file));
}

/** Line and column where the text stops being JSON. */
function place(text: string): string {
  const pos = jsonErrorOffset(text);
  const before = text.slice(0, pos).split('\n');
  return `at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}

function checkEvent(ev: unknown, where: string): EventFileEntry {
  if (typeof ev !== 'object' || ev === null || Array.isArray(ev)) throw new UsageError(`${where}: an event must be a JSON object`);
  const o = ev as Record<string, unknown>;
  const missing = ['source', 'detail-type', 'detail'].filter((k) => o[k] === undefined);
  if (missing.length) throw new UsageError(`${where}: the event has no ${missing.join(', ')}`);
  if (typeof o.source !== 'string' || !o.source) throw new UsageError(`${where}: source must be a non-empty string`);
  if (typeof o['detail-type'] !== 'string' || !o['detail-type']) throw new UsageError(`${where}: detail-type must be a non-empty string`);
  if (typeof o.detail !== 'object' || o.detail === null || Array.isArray(o.detail)) {
    throw new UsageError(`${where}: detail must be a JSON object`);
  }
  let time: Date | undefined;
  if (o.time !== undefined) {
    time = typeof o.time === 'string' ? new Date(o.time) : undefined;
    if (!time || Number.isNaN(time.getTime()))
      throw new UsageError(`${where}: time must be an ISO-8601 timestamp (got ${JSON.stringify(o.time)})`);
  }
  let resources: string[] | undefined;
  if (o.resources !== undefined) {
    if (!Array.isArray(o.resources) || o.resources.some((r) => typeof r !== 'string')) {
      throw new UsageError(`${where}: resources must be an array of strings`);
    }
    resources = o.resources as string[];
  }
  return {
    where,
    source: o.source,
    detailType: o['detail-type'],
    detail: o.detail as Record<string, unknown>,
    time,
    resources,
    envelope: o,
  };
}
