/**
 * Where the CPU goes: runs a bundle in the cpu mode of bench/child.mjs with the inspector's sampling
 * profiler on around the measured calls only (not the import or the warm-up). The bundle is built
 * without minification (same options otherwise) so every line of the bundle can be traced back to
 * its module through esbuild's `// path` markers, and sums the profile's self time by package and
 * by function.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ENTRY_FILE } from '../infra/construct/bundling.ts';
import { constructOptions, DEPLOY_DIR, type EntryName, packageOf, type Variant } from './bundles.ts';
import { runChild, type ChildJob } from './microbench.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  byPackage: { name: string; ms: number; share: number }[];
  byFunction: { name: string; ms: number; share: number }[];
}

export async function readableBundle(name: EntryName, outDir: string, variant: Variant = 'local'): Promise<string> {
  const dir = join(variant === 'deploy' ? join(DEPLOY_DIR, 'readable') : outDir, `${name}-readable`);
  rmSync(dir, { recursive: true, force: true });
  // The construct's split build, unminified: each file's lines trace back to their modules.
  await build({ ...constructOptions(variant, name, dir), minify: false });
  return join(dir, ENTRY_FILE);
}

/** Line (0-based) -> module path, from esbuild's `// path` comments. */
function moduleLines(bundleFile: string): (line: number) => string {
  const starts: { line: number; path: string }[] = [];
  readFileSync(bundleFile, 'utf8')
    .split('\n')
    .forEach((l, i) => {
      // node_modules may be a link elsewhere (`../main/node_modules/...`): match the path wherever it starts.
      const m = /^\/\/ (\S*?(?:node_modules|functions|events|bench|local)\/\S+)$/.exec(l);
      if (m) starts.push({ line: i, path: m[1]! });
    });
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = '(bundle prelude)';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]!.line <= line) {
        found = starts[mid]!.path;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

export function summarize(profileFile: string, bundleFile: string): ProfileSummary {
  const p = JSON.parse(readFileSync(profileFile, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  // The entry and its chunks: a frame in any file of the bundle is traced to its module.
  const bundleDir = dirname(bundleFile);
  const linesOf = new Map<string, (line: number) => string>();
  const moduleOf = (url: string, line: number): string | undefined => {
    const file = url.startsWith('file://') ? fileURLToPath(url) : undefined;
    if (!file?.startsWith(`${bundleDir}/`)) return undefined;
    if (!linesOf.has(file)) linesOf.set(file, moduleLines(file));
    return linesOf.get(file)!(line);
  };
  const pkgs = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const { url, functionName, lineNumber } = n.callFrame;
    if (functionName === '(idle)') continue;
    total += us;
    const mod = moduleOf(url, lineNumber);
    let pkg: string;
    if (mod) pkg = packageOf(mod);
    else if (url.startsWith('node:') || url === '')
      pkg = functionName.startsWith('(') ? functionName : `node internals ${url || ''}`.trim();
    else pkg = url;
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us);
    const fn = `${functionName || '(anonymous)'} ${mod ? `[${packageOf(mod)}]` : url ? `[${url}]` : ''}`.trim();
    fns.set(fn, (fns.get(fn) ?? 0) + us);
  }
  const top = (m: Map<string, number>) =>
    [...m.entries()]
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / total }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 15);
  return { totalMs: total / 1000, byPackage: top(pkgs), byFunction: top(fns) };
}

/** Profiles one cpu job on the readable bundle; returns the summary. */
export async function profileJob(
  name: EntryName,
  job: Omit<ChildJob, 'bundle'>,
  env: Record<string, string>,
  workDir: string,
): Promise<ProfileSummary> {
  const bundleFile = await readableBundle(name, join(workDir, 'readable'));
  const profileOut = join(workDir, `${name}-${Date.now()}.cpuprofile`);
  await runChild({ ...job, bundle: bundleFile, profileOut }, env, workDir);
  return summarize(profileOut, bundleFile);
}

/** Profiles a cold start (import + first invocation) of the readable deploy bundle, the whole process sampled. */
export async function profileColdStart(
  name: EntryName,
  job: Omit<ChildJob, 'bundle'>,
  env: Record<string, string>,
  workDir: string,
): Promise<ProfileSummary> {
  const bundleFile = await readableBundle(name, join(workDir, 'readable'), 'deploy');
  const profDir = join(workDir, `cold-prof-${name}-${Date.now()}`);
  await runChild({ ...job, bundle: bundleFile }, env, workDir, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=100']);
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no CPU profile written for the ${name} cold start`);
  return summarize(join(profDir, file), bundleFile);
}
