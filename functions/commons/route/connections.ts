/**
 * Finds a subject's connections: the index in the state table while the last complete sweep is
 * young (it lists every connection every INDEX_SWEEP_SECONDS, so steady state needs no list call
 * per event), or while the subject's own lookup is fresh; else Nango's list endpoint (paged,
 * capped), whose answer replaces the index. An empty answer is trusted only briefly,
 * so a connection created meanwhile is found soon even without its webhook. Concurrent lookups of one
 * subject in a container share one request.
 */
import type { Subject } from '../domain/subject.ts';
import { listAllConnections } from '../nango/list.ts';
import type { ConnectionFilter, NangoPort } from '../nango/port.ts';
import type { StatePort } from '../state/port.ts';
import type { Target } from '../sync/message.ts';

export interface IndexOptions {
  /**
   * When the last complete sweep started (epoch ms), if any: the index then holds every connection
   * Nango listed from that moment. Trusted while younger than `sweepFreshMs`.
   */
  lastSweep?: () => Promise<number | undefined>;
  sweepFreshMs?: number;
  ttlMs: number;
  emptyTtlMs: number;
  maxConnections: number;
  now?: () => number;
}

/** Nango pages of this size: a subject rarely has more, so one request answers a miss. */
const PAGE_SIZE = 1_000;
/** How long a container reuses its read of the sweep's progress. */
const SWEEP_READ_MS = 10_000;
const STALE_REREAD_MS = 1_000;

export class ConnectionIndex {
  private readonly pending = new Map<string, Promise<{ targets: Target[]; fromNango: boolean }>>();

  constructor(
    private readonly state: StatePort,
    private readonly nango: Pick<NangoPort, 'listConnections'>,
    private readonly o: IndexOptions,
  ) {}

  /** The subject's connections, and whether Nango was asked for them. */
  connectionsOf(subject: Subject, deadline: number): Promise<{ targets: Target[]; fromNango: boolean }> {
    let p = this.pending.get(subject.id);
    if (!p) {
      p = this.lookup(subject, deadline).finally(() => this.pending.delete(subject.id));
      this.pending.set(subject.id, p);
    }
    return p;
  }

  private swept: { at: number; value: Promise<number | undefined>; resolved?: number | undefined } | undefined;

  /**
   * The last complete sweep's start, read at most every few seconds per container; a read that
   * shows a run no longer fresh is read again sooner (at most every second), so a container does
   * not list per event for seconds after the next run completed.
   */
  private sweptAt(): Promise<number | undefined> {
    if (!this.o.lastSweep) return Promise.resolve(undefined);
    const now = Date.now();
    const c = this.swept;
    const stale = c?.resolved !== undefined && now - c.resolved >= (this.o.sweepFreshMs ?? 0);
    if (!c || now - c.at > SWEEP_READ_MS || (stale && now - c.at > STALE_REREAD_MS)) {
      const entry: NonNullable<typeof this.swept> = { at: now, value: Promise.resolve(undefined) };
      entry.value = this.o
        .lastSweep()
        .catch(() => undefined)
        .then((v) => (entry.resolved = v));
      this.swept = entry;
    }
    return this.swept!.value;
  }

  private async lookup(subject: Subject, deadline: number): Promise<{ targets: Target[]; fromNango: boolean }> {
    const now = (this.o.now ?? Date.now)();
    const [entry, swept] = await Promise.all([this.state.readIndex(subject.id), this.sweptAt()]);
    // An index over the cap, or one that refused an add (full: it lacks a member), is not trusted: the
    // listing refuses the subject, or replaces the index whole once the subject fits again.
    const whole = (entry?.connections.length ?? 0) <= this.o.maxConnections && entry?.refusedAt === undefined;
    // A fresh sweep saw every connection: the index (absent means none) is the answer.
    if (swept !== undefined && now - swept < (this.o.sweepFreshMs ?? 0) && whole) {
      return { targets: entry?.connections ?? [], fromNango: false };
    }
    if (entry?.fetchedAt !== undefined && whole) {
      const ttl = entry.connections.length > 0 ? this.o.ttlMs : this.o.emptyTtlMs;
      if (now - entry.fetchedAt < ttl) return { targets: entry.connections, fromNango: false };
    }
    const listedSince = Date.now();
    const listed = await listAllConnections(this.nango, filterOf(subject), { pageSize: PAGE_SIZE, max: this.o.maxConnections, deadline });
    const targets = listed.map((c) => ({ connectionId: c.connectionId, providerConfigKey: c.providerConfigKey }));
    await this.state.replaceIndex(subject.id, targets, now, listedSince);
    return { targets, fromNango: true };
  }
}

/**
 * Every integration: the index serves every event type of the subject, whose keys have different
 * integration scopes; scope is applied per key when the syncs are built.
 */
function filterOf(subject: Subject): ConnectionFilter {
  const s = subject.spec;
  return s.by === 'tags' ? { tags: s.tags } : { connectionId: s.connectionId };
}
