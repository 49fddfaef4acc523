/**
 * Terminal output helpers shared by the CLIs: colours only on a TTY (and never with NO_COLOR),
 * compact JSON for metadata, aligned columns, and a one-line progress indicator that degrades to
 * occasional plain lines when the output is a file or pipe.
 */
export interface Out {
  write(text: string): void;
  isTTY: boolean;
}

export const stdoutOut = (stream: NodeJS.WriteStream = process.stdout, write = stream.write.bind(stream)): Out => ({
  write: (t) => void write(t),
  isTTY: Boolean(stream.isTTY),
});

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\u001b[${open}m${s}\u001b[${close}m`;
const plain = (s: string) => s;

export function style(enabled: boolean): Style {
  if (!enabled) return { bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };
  return { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) };
}

export const colorWanted = (out: Out, env: NodeJS.ProcessEnv = process.env): boolean =>
  out.isTTY && env.NO_COLOR === undefined && env.TERM !== 'dumb';

/** One-line JSON, cut with an ellipsis past `max` characters. */
export function compactJson(value: unknown, max = 160): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Left-aligned columns; the last column is not padded. */
export function columns(rows: readonly (readonly string[])[], gap = 2): string[] {
  // Width counts visible characters only (colour codes excluded).
  // eslint-disable-next-line no-control-regex
  const visible = (s: string) => s.replace(/\u001b\[\d+m/g, '').length;
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visible(c));
    });
  }
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - visible(c) + gap)))
      .join('')
      .trimEnd(),
  );
}

export function indent(lines: readonly string[], by = 2): string[] {
  const pad = ' '.repeat(by);
  return lines.map((l) => (l ? pad + l : l));
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * A status line: rewritten in place on a TTY; elsewhere printed only when it changed and at most
 * once per `everyMs`, so logs of CI runs stay short.
 */
export function progressLine(out: Out, everyMs = 1000): { update(text: string): void; done(): void } {
  let last = '';
  let lastAt = 0;
  let shown = false;
  return {
    update(text) {
      if (out.isTTY) {
        out.write(`\r\u001b[2K${text}`);
        shown = true;
        return;
      }
      const now = Date.now();
      if (text !== last && now - lastAt >= everyMs) {
        out.write(`${text}\n`);
        lastAt = now;
      }
      last = text;
    },
    done() {
      if (out.isTTY && shown) out.write('\r\u001b[2K');
      shown = false;
    },
  };
}
