/** Re-renders a saved run: `tsx bench/render.ts [bench/results/latest.json]` prints its table. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './bundles.ts';
import { render, type BenchResults } from './report.ts';

const file = process.argv[2] ?? join(ROOT, 'bench', 'results', 'latest.json');
process.stdout.write(`${render(JSON.parse(readFileSync(file, 'utf8')) as BenchResults)}\n`);
