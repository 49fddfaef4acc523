/**
 * One scenario in its own process (a local pipeline is one per process): bench/run.ts spawns
 *   node --import tsx bench/scenario.ts <drain|trickle|seed|steady|peer> '<options JSON>' <result file>
 * and reads the result file. Progress and errors on stderr.
 */
import { writeFileSync } from 'node:fs';
import { drain, seed, steady, trickle } from './ours.ts';
import { runPeer } from './peers/run.ts';

const RUNNERS = { drain, trickle, seed, steady, peer: runPeer } as Record<string, (o: never) => Promise<unknown>>;

const [kind, json, out] = process.argv.slice(2);
const run = kind ? RUNNERS[kind] : undefined;
if (!run || !json || !out) {
  process.stderr.write(`usage: tsx bench/scenario.ts <${Object.keys(RUNNERS).join('|')}> '<options JSON>' <result file>\n`);
  process.exit(2);
}
run(JSON.parse(json) as never).then(
  (r) => {
    writeFileSync(out, JSON.stringify(r, null, 2));
    // Keep-alive sockets (undici, the SDK) would hold the process open.
    process.exit(0);
  },
  (e: unknown) => {
    process.stderr.write(`scenario ${kind} failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
