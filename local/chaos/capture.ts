/**
 * Captures what the handlers print (Powertools' Logger and Metrics write JSON lines straight to
 * process.stdout/stderr) so a run can be checked for the secret key without keeping gigabytes:
 * every chunk is scanned as it passes (with an overlap, so a key split across writes is still
 * seen), and only counts and a bounded tail are kept.
 */
type Write = typeof process.stdout.write;

export interface OutputCapture {
  /** Occurrences of each watched string so far. */
  hits(): Map<string, number>;
  /** Total occurrences of every watched string. */
  leaks(): number;
  bytes(): number;
  lines(): number;
  /** The last lines seen (for a failure message), never with a watched string in clear. */
  tail(): string[];
  /** Watch one more string from now on (e.g. a key created mid-run). */
  watch(s: string): void;
  stop(): void;
}

export interface CaptureOptions {
  /** Strings that must never be printed. */
  watch?: readonly string[];
  /** Also pass the output through to the real streams. Default false. */
  echo?: boolean;
  tailLines?: number;
  /** Sees every complete line (Powertools writes one JSON line per call). */
  onLine?: (line: string) => void;
}

// The stream's own write, taken before any capture replaces it.
const realStdoutWrite = process.stdout.write.bind(process.stdout);

export function captureOutput(o: CaptureOptions = {}): OutputCapture {
  const watched = new Set(o.watch ?? []);
  const hits = new Map<string, number>();
  const tailMax = o.tailLines ?? 20;
  const tail: string[] = [];
  let bytes = 0;
  let lines = 0;
  let carry = '';
  const originals = { out: process.stdout.write, err: process.stderr.write };
  const redact = (s: string) => {
    let r = s;
    for (const w of watched) r = r.split(w).join('<WATCHED>');
    return r;
  };

  const scan = (chunk: unknown, encoding: unknown) => {
    const text =
      typeof chunk === 'string'
        ? chunk
        : Buffer.from(chunk as Uint8Array).toString(typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    bytes += Buffer.byteLength(text);
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
    const window = carry + text;
    for (const w of watched) {
      let from = 0;
      for (let at = window.indexOf(w, from); at >= 0; at = window.indexOf(w, from)) {
        // Count a hit once: only when it ends inside the new text.
        if (at + w.length > carry.length) hits.set(w, (hits.get(w) ?? 0) + 1);
        from = at + 1;
      }
    }
    const longest = Math.max(0, ...[...watched].map((w) => w.length));
    carry = window.slice(Math.max(0, window.length - longest + 1));
    for (const l of text.split('\n')) {
      if (!l) continue;
      o.onLine?.(l);
      tail.push(redact(l.length > 2000 ? `${l.slice(0, 2000)}…` : l));
      if (tail.length > tailMax) tail.shift();
    }
  };

  const wrap = (orig: Write): Write =>
    function (this: NodeJS.WriteStream, chunk: unknown, encoding?: unknown, cb?: unknown) {
      scan(chunk, encoding);
      if (o.echo) return (orig as (...a: unknown[]) => boolean).call(this, chunk, encoding, cb);
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
      return true;
    } as Write;

  process.stdout.write = wrap(originals.out);
  process.stderr.write = wrap(originals.err);
  let stopped = false;
  return {
    hits: () => new Map(hits),
    leaks: () => [...hits.values()].reduce((a, b) => a + b, 0),
    bytes: () => bytes,
    lines: () => lines,
    tail: () => [...tail],
    watch: (s) => {
      if (s) watched.add(s);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      process.stdout.write = originals.out;
      process.stderr.write = originals.err;
    },
  };
}

/** Print past an active capture (the invariant table must reach the test output). */
export function printAlways(text: string): void {
  realStdoutWrite(text.endsWith('\n') ? text : `${text}\n`);
}
