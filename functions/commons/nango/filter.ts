/**
 * The GET /connections filter: checked before sending (a bad value is a permanent error naming it,
 * never a request that lists other customers' connections), written as Nango's query string, and
 * checked again against what came back, since a server that ignored a filter would hand us the
 * connections of other customers.
 */
import * as z from 'zod';
import { logsSubjectIds, subjectForLog } from '#powertools/logger';
import { connectionIdSchema, MAX_TAGS, providerConfigKeySchema, tagKeySchema, tagValueSchema } from '#events/ids';
import { tagsMatch } from '../domain/subject.ts';
import { Failure } from '../failure.ts';
import type { ConnectionFilter, ListedConnection, PageRequest } from './port.ts';

export const MAX_PAGE_SIZE = 2000;

const tagsSchema = z.record(tagKeySchema, tagValueSchema).refine((t) => Object.keys(t).length <= MAX_TAGS, `at most ${MAX_TAGS} tags`);

const filterSchema = z.strictObject({
  tags: tagsSchema.optional(),
  connectionId: connectionIdSchema.optional(),
  // Nango splits the list on commas and trims each id: an id with outer spaces would be changed.
  integrationIds: z
    .array(providerConfigKeySchema.refine((k) => k === k.trim(), 'provider config key with leading or trailing spaces'))
    .min(1, 'integrationIds is empty: leave it out to list every integration')
    .optional(),
});

/** The filter field a rejection is about, named as the rest of the adapter names it, with the same codes. */
const FIELDS: Record<string, { code: string; name: string }> = {
  connectionId: { code: 'invalid_connection_id', name: 'connection id' },
  integrationIds: { code: 'invalid_provider_config_key', name: 'provider config key' },
};

export function assertValidFilter(filter: ConnectionFilter): void {
  const r = filterSchema.safeParse(filter);
  if (r.success) return;
  const issue = r.error.issues[0];
  const [field, ...rest] = issue?.path.map(String) ?? [];
  const known = field !== undefined ? FIELDS[field] : undefined;
  const where = known ? `${known.name}: ` : field !== undefined ? `${[field, ...rest].join('.')}: ` : '';
  // A bad record key is reported as "Invalid key in record", with the reason nested.
  const inner = issue?.code === 'invalid_key' ? issue.issues[0]?.message : undefined;
  throw new Failure({
    source: 'input',
    kind: 'invalid',
    code: known?.code ?? 'invalid_filter',
    message: `connection filter rejected before sending: ${where}${inner ?? issue?.message ?? 'invalid'}`,
  });
}

export function assertValidPage(page: PageRequest): void {
  if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > MAX_PAGE_SIZE || !Number.isInteger(page.page) || page.page < 0) {
    const message = `page rejected before sending: limit must be 1..${MAX_PAGE_SIZE}, page 0 or more`;
    throw new Failure({ source: 'input', kind: 'invalid', code: 'invalid_page', message });
  }
}

/** The query string (without "?"): tags as tags[key]=value (the deepObject form Nango's parser reads). */
export function connectionsQuery(filter: ConnectionFilter, page: PageRequest): string {
  const q = new URLSearchParams();
  if (filter.connectionId !== undefined) q.append('connectionId', filter.connectionId);
  if (filter.integrationIds !== undefined) q.append('integrationId', filter.integrationIds.join(','));
  for (const [k, v] of Object.entries(filter.tags ?? {})) q.append(`tags[${k}]`, v);
  q.append('limit', String(page.limit));
  q.append('page', String(page.page));
  return q.toString();
}

export function matchesFilter(c: ListedConnection, filter: ConnectionFilter): boolean {
  if (filter.connectionId !== undefined && c.connectionId !== filter.connectionId) return false;
  if (filter.integrationIds !== undefined && !filter.integrationIds.includes(c.providerConfigKey)) return false;
  return tagsMatch(filter.tags ?? {}, c.tags);
}

/** For messages: what was asked, short. */
export function describeFilter(filter: ConnectionFilter): string {
  const parts: string[] = [];
  const tags = Object.entries(filter.tags ?? {});
  // Tag values name a customer: these messages are logged, so they show as subject ids do (digests
  // unless LOG_SUBJECT_IDS is on).
  const value = (v: string) => (logsSubjectIds() ? JSON.stringify(v) : subjectForLog(v));
  if (tags.length) parts.push(`tags ${tags.map(([k, v]) => `${k}=${value(v)}`).join(' AND ')}`);
  if (filter.connectionId !== undefined) parts.push(`connection id ${JSON.stringify(filter.connectionId)}`);
  if (filter.integrationIds?.length) parts.push(`integrations ${filter.integrationIds.join(', ')}`);
  return parts.length ? parts.join(', ') : 'no filter (every connection)';
}
