// After `tsc -p tsconfig.build.json`: makes dist/ runnable from node_modules. The sources import
// through package.json `imports` (#commons/..., pointing at .ts files that are not packed) and with
// `.ts` extensions; the emitted JavaScript and declarations get plain relative `.js` paths instead.
// Also copies the JSON the tools read at run time (the samples of `start`, the stand-in's connections).
import { chmodSync, cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = join(root, 'dist');
const ALIASES = {
  '#commons/': 'functions/commons/',
  '#powertools/': 'functions/commons/powertools/',
  '#events/': 'events/',
};

const files = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });

const SPECIFIER = /(["'])(#(?:commons|powertools|events)\/[^"']+|\.{1,2}\/[^"']+\.ts)\1/g;
let rewritten = 0;
for (const file of files(dist).filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'))) {
  const text = readFileSync(file, 'utf8');
  const out = text.replace(SPECIFIER, (_m, q, spec) => {
    if (spec.startsWith('.')) return `${q}${spec.replace(/\.ts$/, '.js')}${q}`;
    const [prefix, target] = Object.entries(ALIASES).find(([a]) => spec.startsWith(a));
    let rel = relative(dirname(file), join(dist, target, `${spec.slice(prefix.length)}.js`))
      .split('\\')
      .join('/');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    return `${q}${rel}${q}`;
  });
  if (out !== text) {
    writeFileSync(file, out);
    rewritten++;
  }
}

for (const dir of ['events/samples', 'local/fixtures']) cpSync(join(root, dir), join(dist, dir), { recursive: true });
chmodSync(join(dist, 'cli/main.js'), 0o755);
console.log(`postbuild: ${rewritten} files' imports made relative; samples and fixtures copied`);
