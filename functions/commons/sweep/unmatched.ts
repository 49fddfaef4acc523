/**
 * The daily run's check of subjects holding state that no connection belongs to (their events
 * reach nobody, with no error). Route notes such a subject when it writes its keys; after the last
 * page of a repair run, this walks the notes (one Query page at a time, chained through the sweep's
 * queue like the pages), forgets those whose index has gained a connection, and counts the rest,
 * keeping the first few with the indexed subjects they nearly match (case, Unicode form, spaces).
 */
import * as z from 'zod';
import { likelyVariants, nearMatches, type UnmatchedSubject } from '../domain/near-match.ts';
import type { UnmatchedPort } from '../state/unmatched.ts';

/** Notes read per Query (and index BatchGets of 100). */
export const NOTES_PER_PAGE = 500;
/** Subjects named in the report; the count covers every one. */
export const SAMPLES = 5;

// The schemas here are built on their first parse (`z.lazy`), not at a cold start's import.
export const unmatchedMessageSchema = z.lazy(() =>
  z.object({
    v: z.literal(1),
    kind: z.literal('sweep-unmatched'),
    run: z.string().min(1).max(128),
    /** The last subject of the previous page (absent: the first). */
    after: z.string().min(1).max(2_048).optional(),
    /** Carried from page to page. */
    count: z.number().int().nonnegative(),
    oldestSince: z.number().int().nonnegative().optional(),
    samples: z.array(z.string().min(1).max(2_048)).max(SAMPLES),
  }),
);
export type UnmatchedMessage = z.output<typeof unmatchedMessageSchema>;

export const firstUnmatchedMessage = (run: string): UnmatchedMessage => ({ v: 1, kind: 'sweep-unmatched', run, count: 0, samples: [] });

export type UnmatchedOutcome =
  | { action: 'next'; message: UnmatchedMessage; forgotten: number }
  | { action: 'done'; count: number; oldestSince?: number; samples: UnmatchedSubject[]; forgotten: number };

/** One page of notes: the next page's message, or (the last page) the report. */
export async function checkUnmatchedPage(store: UnmatchedPort, m: UnmatchedMessage, pageSize = NOTES_PER_PAGE): Promise<UnmatchedOutcome> {
  const { notes, next } = await store.page(m.after, pageSize);
  const sizes = await store.indexSizes(notes.map((n) => n.subject));
  let count = m.count;
  let oldestSince = m.oldestSince;
  const samples = [...m.samples];
  let forgotten = 0;
  for (const n of notes) {
    if ((sizes.get(n.subject) ?? 0) > 0) {
      // A connection belongs to it now (created, re-tagged, or its webhook came late).
      await store.forget(n.subject);
      forgotten++;
      continue;
    }
    count++;
    oldestSince = oldestSince === undefined ? n.since : Math.min(oldestSince, n.since);
    if (samples.length < SAMPLES) samples.push(n.subject);
  }
  if (next !== undefined) {
    const message: UnmatchedMessage = { ...m, after: next, count, samples, ...(oldestSince !== undefined ? { oldestSince } : {}) };
    return { action: 'next', message, forgotten };
  }
  return {
    action: 'done',
    count,
    ...(oldestSince !== undefined ? { oldestSince } : {}),
    samples: await withNearMatches(store, samples),
    forgotten,
  };
}

/** The likely variants of each sample that some connection belongs to (their index is not empty). */
async function withNearMatches(store: UnmatchedPort, samples: readonly string[]): Promise<UnmatchedSubject[]> {
  const variants = [...new Set(samples.flatMap(likelyVariants))];
  const sizes = variants.length ? await store.indexSizes(variants) : new Map<string, number>();
  return nearMatches(
    samples,
    variants.filter((v) => (sizes.get(v) ?? 0) > 0),
  );
}
