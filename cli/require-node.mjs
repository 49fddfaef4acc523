// Loaded first by every CLI (`node --import`, or the bin's first import): on a Node older than
// package.json's `engines`, one line saying what to install instead of a stack trace from a module
// that needs a newer Node. Plain JavaScript so that any Node can run it.
import { readFileSync } from 'node:fs';

const range = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node;
const floor = /^>=(\d+)(?:\.(\d+))?/.exec(range);
const [major, minor] = process.versions.node.split('.').map(Number);
if (floor && (major < +floor[1] || (major === +floor[1] && minor < +(floor[2] ?? 0)))) {
  console.error(
    `nango-metadata-sync needs Node ${range.slice(2)} or later (24 is what CI and Lambda run); this is Node ${process.versions.node}. ` +
      'With nvm: `nvm install` in this folder (reads .nvmrc).',
  );
  process.exit(1);
}
