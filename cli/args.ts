/**
 * Command-line parsing shared by the project's CLIs: Node's own util.parseArgs (strict), with its
 * errors turned into a UsageError a CLI prints as one line, and a help text generated from the same
 * option table so the two never disagree.
 */
import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in --help, e.g. `--nango-url URL`. */
  valueName?: string;
  description: string;
}

export type OptionTable = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean'
  ? S['multiple'] extends true
    ? boolean[]
    : boolean
  : S['multiple'] extends true
    ? string[]
    : string;

export type ParsedValues<T extends OptionTable> = { [K in keyof T]?: ValueOf<T[K]> };

/** Bad command line: the CLI prints the message (and a pointer to --help) and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseCommandLine<T extends OptionTable>(
  argv: readonly string[],
  options: T,
  { positionals = true }: { positionals?: boolean } = {},
): { values: ParsedValues<T>; positionals: string[] } {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries(options)) {
    config[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  try {
    const out = parseArgs({ args: [...argv], options: config, allowPositionals: positionals, strict: true });
    return { values: out.values as ParsedValues<T>, positionals: out.positionals };
  } catch (e) {
    const err = e as Error & { code?: string };
    if (typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError(err.message.replace(/\s*\n\s*/g, ' '));
    }
    throw e;
  }
}

export interface HelpSpec {
  usage: string;
  description: string;
  options: OptionTable;
  sections?: { title: string; lines: string[] }[];
}

export function helpText(h: HelpSpec): string {
  const flags = Object.entries(h.options).map(([name, o]) => {
    const value = o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : '';
    return { left: `${o.short ? `-${o.short}, ` : '    '}--${name}${value}`, right: o.description };
  });
  const width = Math.max(...flags.map((f) => f.left.length)) + 2;
  const lines = [`Usage: ${h.usage}`, '', h.description, '', 'Options:'];
  for (const f of flags) lines.push(`  ${f.left.padEnd(width)}${f.right}`);
  for (const s of h.sections ?? []) lines.push('', `${s.title}:`, ...s.lines.map((l) => `  ${l}`));
  return lines.join('\n') + '\n';
}

/**
 * `npm run X --dry-run`, without `--` before the flag, gives it to npm: npm sets npm_config_dry_run
 * and runs the script without it, so a preview would do the real thing. A CLI with --dry-run calls
 * this first and refuses (nothing done) when npm took the flag.
 */
export function npmTookDryRun(env: NodeJS.ProcessEnv, script: string, given: boolean): UsageError | undefined {
  if (given || env.npm_config_dry_run !== 'true') return undefined;
  return new UsageError(
    `npm took --dry-run for itself and did not pass it on; nothing was done. Write: npm run ${script} -- --dry-run ...`,
  );
}
