/**
 * A progress bar on stderr, so stdout stays clean for --json. On a terminal it redraws one line;
 * elsewhere (CI, a pipe) it prints a line at most every few seconds and at the end.
 */
export interface ProgressCounts {
  done: number;
  failed: number;
  skipped: number;
}

export interface Progress {
  /** A FIFO DLQ reveals more messages per round: the total grows. */
  setTotal(n: number): void;
  update(c: ProgressCounts): void;
  finish(c: ProgressCounts): void;
}

export function progressBar(
  initialTotal: number,
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
  label = 'replay',
  now: () => number = () => performance.now(),
): Progress {
  const start = now();
  let total = initialTotal;
  let lastLine = -Infinity;
  const line = (c: ProgressCounts) => {
    const handled = c.done + c.failed + c.skipped;
    const frac = total ? handled / total : 1;
    const width = Math.max(10, Math.min(30, (out.columns ?? 80) - 60));
    const fill = Math.round(frac * width);
    const secs = (now() - start) / 1000;
    const rate = secs > 0 ? c.done / secs : 0;
    return `${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${handled}/${total}  sent ${c.done}  failed ${c.failed}  skipped ${c.skipped}  ${rate.toFixed(1)}/s`;
  };
  return {
    setTotal(n) {
      total = n;
    },
    update(c) {
      if (out.isTTY) {
        out.write(`\r${line(c)}\x1b[K`);
      } else if (now() - lastLine >= 5000) {
        lastLine = now();
        out.write(`${line(c)}\n`);
      }
    },
    finish(c) {
      out.write(out.isTTY ? `\r${line(c)}\x1b[K\n` : `${line(c)}\n`);
    },
  };
}
