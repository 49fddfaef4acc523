/**
 * `npm run soak`: the chaos run at a larger scale (default 2,000 events), not part of CI. Same
 * pipeline, faults, duplicates, late events, same-second pairs, connections created mid-run and after
 * their events, key rotation and crashes as test/chaos/chaos.test.ts; the seed comes from --seed or
 * CHAOS_SEED (else the clock, printed for a replay). Prints the invariant table and exits 1 when an
 * invariant is broken.
 *
 *   npm run soak -- [--events 2000] [--seed 12345]
 */
import { parseArgs } from 'node:util';
import { printAlways } from '../local/chaos/capture.ts';
import { seedFromEnv, soakChaos } from '../local/chaos/config.ts';
import { invariantsHold } from '../local/chaos/invariants.ts';
import { runChaos } from '../local/chaos/run.ts';

const { values } = parseArgs({
  options: { events: { type: 'string', default: '2000' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  printAlways('usage: npm run soak -- [--events N (default 2000)] [--seed S (or CHAOS_SEED)]');
  process.exit(0);
}
const events = Number(values.events);
if (!Number.isInteger(events) || events < 100) {
  printAlways(`--events must be an integer >= 100 (got ${values.events})`);
  process.exit(2);
}
const seed = values.seed !== undefined ? Number(values.seed) : seedFromEnv(Date.now() % 1_000_000_007);
if (!Number.isInteger(seed) || seed <= 0) {
  printAlways(`--seed must be a positive integer (got ${values.seed})`);
  process.exit(2);
}

// Never reach AWS: the pipeline gives every client a loopback endpoint; these keep the SDK quiet.
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

printAlways(`soak: ${events.toLocaleString('en-US')} events, seed ${seed} (replay with --seed ${seed})`);
const result = await runChaos(soakChaos(seed, events));
printAlways(result.table);
const ok = invariantsHold(result.report) && result.rotated && result.crashed !== undefined;
printAlways(ok ? 'soak: every invariant held' : 'soak: INVARIANT BROKEN (see above)');
process.exit(ok ? 0 : 1);
