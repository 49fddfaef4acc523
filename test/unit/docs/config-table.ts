/**
 * The README's table of function settings, rendered from `SETTINGS` and checked against it. Kept
 * beside its test; `npm run docs:settings` writes it into the README (settings-docs.ts).
 */
import { FUNCTION_SETTINGS, SETTINGS, type SettingName } from '#commons/config';

export const CONFIG_HEADING = '## Configuration';
export const HEADER = ['variable', 'default', 'read by', 'prop (-c key)', 'meaning'] as const;
const NONE = '—';

export interface Row {
  variable: string;
  default: string;
  readBy: string;
  prop: string;
  meaning: string;
}

/** A setting's default as the README shows it; no default is a dash. */
export function defaultText(name: SettingName): string {
  const parsed = SETTINGS[name].schema.safeParse(undefined);
  const value = parsed.success ? parsed.data : undefined;
  return value === undefined ? NONE : `\`${String(value)}\``;
}

export function readByText(name: SettingName): string {
  return Object.entries(FUNCTION_SETTINGS)
    .filter(([, names]) => (names as readonly string[]).includes(name))
    .map(([fn]) => fn)
    .join(', ');
}

/** The construct prop behind a setting, its unit and its context key; a dash for what the construct wires itself. */
export function propText(name: SettingName): string {
  const s = SETTINGS[name] as { prop?: string; unit?: string; context?: string };
  return s.prop ? `\`${s.prop}\` (${s.unit}; \`-c ${s.context}\`)` : NONE;
}

export function expectedRows(): Row[] {
  return (Object.keys(SETTINGS) as SettingName[]).map((name) => ({
    variable: `\`${name}\``,
    default: defaultText(name),
    readBy: readByText(name),
    prop: propText(name),
    meaning: SETTINGS[name].doc,
  }));
}

const escapeCell = (s: string) => s.replace(/\|/g, '\\|');

export function renderTable(rows: readonly Row[] = expectedRows()): string {
  const lines = [`| ${HEADER.join(' | ')} |`, `| ${HEADER.map(() => '---').join(' | ')} |`];
  for (const r of rows) lines.push(`| ${[r.variable, r.default, r.readBy, r.prop, r.meaning].map(escapeCell).join(' | ')} |`);
  return lines.join('\n');
}

/** Splits a Markdown table row on its unescaped pipes, unescaping `\|` inside cells. */
export function cells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

/** The rows of the first table under the configuration heading (undefined when there is none). */
export function readmeRows(readme: string): Row[] | undefined {
  const lines = readme.split(/\r?\n/);
  const start = lines.findIndex((l) => l.trim() === CONFIG_HEADING);
  if (start < 0) return undefined;
  let i = start + 1;
  while (i < lines.length && !lines[i]!.trim().startsWith('|')) {
    if (/^#{1,2} /.test(lines[i]!)) return undefined;
    i++;
  }
  const table: string[] = [];
  while (i < lines.length && lines[i]!.trim().startsWith('|')) table.push(lines[i++]!);
  const [header, , ...body] = table;
  if (!header || cells(header).join('|').toLowerCase() !== HEADER.join('|')) return undefined;
  return body.map((l) => {
    const [variable = '', def = '', readBy = '', prop = '', meaning = ''] = cells(l);
    return { variable, default: def, readBy, prop, meaning };
  });
}

/** What differs between the README's table and the settings: empty when they agree. */
export function tableProblems(readme: string): string[] {
  const rows = readmeRows(readme);
  if (!rows) return [`no table with the columns ${HEADER.join(', ')} under "${CONFIG_HEADING}"`];
  const problems: string[] = [];
  const byVar = new Map(rows.map((r) => [r.variable, r]));
  for (const want of expectedRows()) {
    const got = byVar.get(want.variable);
    if (!got) {
      problems.push(`${want.variable} is missing`);
      continue;
    }
    for (const field of ['default', 'readBy', 'prop', 'meaning'] as const) {
      if (got[field] !== want[field]) problems.push(`${want.variable}: ${field} is "${got[field]}", the code says "${want[field]}"`);
    }
  }
  const known = new Set(expectedRows().map((r) => r.variable));
  for (const r of rows) if (!known.has(r.variable)) problems.push(`${r.variable} is in the README but not a setting`);
  if (new Set(rows.map((r) => r.variable)).size !== rows.length) problems.push('a variable is listed twice');
  return problems;
}
