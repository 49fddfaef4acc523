/**
 * Re-renders a saved run: `tsx bench/render.ts [results.json]` prints its table (default: the latest
 * run). With `--docs` it also writes the run's tables into bench/PERFORMANCE.md and the README,
 * between their `<!-- bench:... -->` markers, so both quote one run as printed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './bundles.ts';
import { render, renderHeadline, rows, stampLine, type BenchResults } from './report.ts';

const args = process.argv.slice(2);
const docs = args.includes('--docs');
const file = args.find((a) => !a.startsWith('--')) ?? join(ROOT, 'bench', 'results', 'latest.json');
const r = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
process.stdout.write(`${render(r)}\n`);

/** Replaces the text between `<!-- bench:<name> -->` and `<!-- bench:end -->` in a file. */
function fill(path: string, name: string, text: string): void {
  const s = readFileSync(path, 'utf8');
  const open = `<!-- bench:${name} -->`;
  const i = s.indexOf(open);
  const j = s.indexOf('<!-- bench:end -->', i);
  if (i < 0 || j < 0) throw new Error(`${path}: no ${open} ... <!-- bench:end --> block`);
  writeFileSync(path, `${s.slice(0, i + open.length)}\n${text}\n${s.slice(j)}`);
}

if (docs) {
  const all = rows(r);
  const details = ['| section | measure | ours | target | beside it | |', '|---|---|---|---|---|---|']
    .concat(
      all.filter((x) => !x.headline).map((x) => `| ${x.section} | ${x.measure} | ${x.ours} | ${x.target} | ${x.beside} | ${x.verdict} |`),
    )
    .join('\n');
  const stamp = `From one run: ${stampLine(r)}.`;
  fill(join(ROOT, 'bench', 'PERFORMANCE.md'), 'targets', `${stamp}\n\n${renderHeadline(r)}`);
  fill(join(ROOT, 'bench', 'PERFORMANCE.md'), 'details', `${details}\n\nSettings: \`${JSON.stringify(r.settings)}\``);
  fill(join(ROOT, 'README.md'), 'targets', `${stamp}\n\n${renderHeadline(r)}`);
  process.stderr.write('wrote the tables into bench/PERFORMANCE.md and README.md\n');
}
