/**
 * Subjects that hold state but match no connection, and the listed subjects they nearly match. An
 * event whose tag value differs from the connection's only by case, Unicode normalisation (NFC/NFD)
 * or surrounding spaces reaches nobody, without an error: Nango compares tag values exactly, and so
 * do we. This names the likely typo so an operator can fix the producer or the tags. Pure.
 */
import { subjectId } from './subject.ts';

export type Difference = 'case' | 'unicode' | 'spaces';

export interface NearMatch {
  subject: string;
  /** What tells the two apart (each one alone would make them equal, or all together do). */
  differsBy: Difference[];
}

export interface UnmatchedSubject {
  subject: string;
  nearMatches: NearMatch[];
}

/** The parts of a subject id (`tags:k=v&k2=v2` or `connection:<id>`, percent-encoded), decoded; undefined for a digest id. */
export function subjectParts(id: string): { kind: 'tags' | 'connection'; parts: [string, string][] } | undefined {
  try {
    if (id.startsWith('connection:')) return { kind: 'connection', parts: [['', decodeURIComponent(id.slice('connection:'.length))]] };
    if (!id.startsWith('tags:')) return undefined;
    const parts = id
      .slice('tags:'.length)
      .split('&')
      .map((pair) => {
        const at = pair.indexOf('=');
        if (at < 0) throw new Error('not a pair');
        return [decodeURIComponent(pair.slice(0, at)), decodeURIComponent(pair.slice(at + 1))] as [string, string];
      });
    return { kind: 'tags', parts };
  } catch {
    return undefined;
  }
}

const TRANSFORMS: Record<Difference, (v: string) => string> = {
  case: (v) => v.toLowerCase(),
  unicode: (v) => v.normalize('NFC'),
  spaces: (v) => v.trim(),
};
const ALL = (v: string) => v.normalize('NFC').trim().toLowerCase();

const keyOf = (p: NonNullable<ReturnType<typeof subjectParts>>, f: (v: string) => string): string =>
  `${p.kind}\n${p.parts.map(([k, v]) => `${k}=${f(v)}`).join('\n')}`;

/**
 * For each unmatched subject, the known subjects (those some connection belongs to) equal to it once
 * case, Unicode form and surrounding spaces are ignored. Tag keys must be equal: Nango lowercases them.
 */
export function nearMatches(unmatched: Iterable<string>, known: Iterable<string>): UnmatchedSubject[] {
  const byCanonical = new Map<string, string[]>();
  for (const id of known) {
    const p = subjectParts(id);
    if (!p) continue;
    const k = keyOf(p, ALL);
    const list = byCanonical.get(k) ?? [];
    list.push(id);
    byCanonical.set(k, list);
  }
  const out: UnmatchedSubject[] = [];
  for (const id of unmatched) {
    const p = subjectParts(id);
    const candidates = p ? (byCanonical.get(keyOf(p, ALL)) ?? []).filter((c) => c !== id) : [];
    out.push({
      subject: id,
      nearMatches: candidates.map((c) => {
        const q = subjectParts(c)!;
        const alone = (Object.keys(TRANSFORMS) as Difference[]).filter((d) => keyOf(p!, TRANSFORMS[d]) === keyOf(q, TRANSFORMS[d]));
        // Which single difference explains it; several when it takes more than one.
        const differsBy = (Object.keys(TRANSFORMS) as Difference[]).filter((d) => {
          const others = (Object.keys(TRANSFORMS) as Difference[]).filter((o) => o !== d);
          const without = (v: string) => others.reduce((acc, o) => TRANSFORMS[o](acc), v);
          return keyOf(p!, without) !== keyOf(q, without);
        });
        return { subject: c, differsBy: alone.length ? alone : differsBy };
      }),
    });
  }
  return out;
}

const FORMS: ((v: string) => string)[][] = [
  [(v) => v, (v) => v.trim()],
  [(v) => v, (v) => v.toLowerCase(), (v) => v.toUpperCase()],
  [(v) => v, (v) => v.normalize('NFC'), (v) => v.normalize('NFD')],
];

/**
 * The ids a subject would have with its values trimmed, lower- or upper-cased, or in NFC or NFD
 * (each alone and together, the same for every value): where the sweep looks for the subject a typo
 * meant without listing every subject there is. Not every case variant ("Acme" for "ACME" is found
 * only from one side), which `npm run reconcile` compares in full.
 */
export function likelyVariants(id: string): string[] {
  const p = subjectParts(id);
  if (!p) return [];
  const out = new Set<string>();
  for (const a of FORMS[0]!)
    for (const b of FORMS[1]!)
      for (const c of FORMS[2]!) {
        const f = (v: string) => c(b(a(v)));
        const parts = p.parts.map(([k, v]) => [k, f(v)] as const);
        out.add(
          p.kind === 'connection'
            ? subjectId({ by: 'connectionId', connectionId: parts[0]![1], integrations: 'all' })
            : subjectId({ by: 'tags', tags: Object.fromEntries(parts), integrations: 'all' }),
        );
      }
  out.delete(id);
  return [...out];
}
