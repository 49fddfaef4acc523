/**
 * What the handlers print, kept for assertions: Powertools writes one JSON line per log call or
 * metric flush to stdout/stderr. Watched strings (the Nango key) are counted wherever they pass,
 * even split across writes; the lines are kept parsed, with the longest line's size.
 */
import { captureOutput, type OutputCapture } from '../../local/chaos/capture.ts';

export interface Logs {
  capture: OutputCapture;
  /** Every JSON line, parsed. */
  records(): Record<string, unknown>[];
  /** Every other line (console warnings such as Powertools' own), as printed. */
  plain(): string[];
  /** Bytes of the longest line printed. */
  maxLineBytes(): number;
  /** The longest line's first characters (to say which one it was). */
  longest(): string;
  stop(): void;
}

export function captureLogs(watch: readonly string[] = []): Logs {
  const records: Record<string, unknown>[] = [];
  const plain: string[] = [];
  let max = 0;
  let longest = '';
  const capture = captureOutput({
    watch,
    onLine: (line) => {
      const bytes = Buffer.byteLength(line, 'utf8');
      if (bytes > max) {
        max = bytes;
        longest = line.slice(0, 300);
      }
      if (!line.startsWith('{')) {
        plain.push(line);
        return;
      }
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a partial or non-JSON line: only its size matters
      }
    },
  });
  return {
    capture,
    records: () => records,
    plain: () => plain,
    maxLineBytes: () => max,
    longest: () => longest,
    stop: () => capture.stop(),
  };
}
