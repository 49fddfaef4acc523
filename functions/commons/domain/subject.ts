/**
 * Subjects: what an event is about, named by a stable id that keys its desired state and its
 * connection index. Pure functions only.
 */
import { createHash } from 'node:crypto';
import type { Integrations, SubjectSpec } from '#events/define';

export interface Subject {
  /** Stable, readable id: `tags:organization_id=acme` or `connection:acme-corp` (percent-encoded parts). */
  id: string;
  spec: SubjectSpec;
}

/** Above this the id is a digest: DynamoDB keys allow 2,048 bytes, tag sets may be longer. */
const MAX_READABLE_ID = 1_000;

const enc = (s: string) => encodeURIComponent(s);

export function subjectId(spec: SubjectSpec): string {
  const id =
    spec.by === 'tags'
      ? `tags:${Object.keys(spec.tags)
          .sort()
          .map((k) => `${enc(k)}=${enc(spec.tags[k]!)}`)
          .join('&')}`
      : `connection:${enc(spec.connectionId)}`;
  return id.length <= MAX_READABLE_ID ? id : `${id.slice(0, id.indexOf(':'))}#${createHash('sha256').update(id).digest('hex')}`;
}

export const subjectOf = (spec: SubjectSpec): Subject => ({ id: subjectId(spec), spec });

/** Whether a subject id names one connection by its id (readable or, when long, digested). */
export const namesConnection = (id: string): boolean => id.startsWith('connection:') || id.startsWith('connection#');

export interface ConnectionFacts {
  connectionId: string;
  providerConfigKey: string;
  tags?: Record<string, string> | null | undefined;
}

/**
 * The subjects a connection belongs to: one per catalog tag-key set its tags cover, and its own id
 * when the catalog addresses connections by id. Integration scope is per key, not per subject.
 */
export function subjectsOfConnection(c: ConnectionFacts, tagKeySets: readonly (readonly string[])[], byConnectionId: boolean): Subject[] {
  const out: Subject[] = [];
  const tags = c.tags ?? {};
  for (const keys of tagKeySets) {
    if (!keys.every((k) => typeof tags[k] === 'string' && tags[k] !== '')) continue;
    out.push(subjectOf({ by: 'tags', tags: Object.fromEntries(keys.map((k) => [k, tags[k]!])), integrations: 'all' }));
  }
  if (byConnectionId) out.push(subjectOf({ by: 'connectionId', connectionId: c.connectionId, integrations: 'all' }));
  return out;
}

/** Whether a connection's tags satisfy a tag subject (all tags must match, values case-sensitive). */
export function tagsMatch(selector: Record<string, string>, tags: Record<string, string> | null | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => tags?.[k] === v);
}

export const inScope = (integrations: Integrations, providerConfigKey: string): boolean =>
  integrations === 'all' || integrations.includes(providerConfigKey);
