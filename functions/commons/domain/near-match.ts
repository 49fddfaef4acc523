/**
 * Subjects that hold state but match no connection, and the listed subjects they nearly match. An
 * event whose tag value differs from the connection's only by case, Unicode normalisation (NFC/NFD)
 * or surrounding spaces reaches nobody, without an error: Nango compares tag values exactly, and so
 * do we. This names the likely typo so an operator can fix the producer or the tags. Pure.
 */

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
