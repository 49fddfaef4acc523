/** Runs the DLQ CLI in-process (its `run`) or as a child process, capturing what it prints. */
import { spawn, type ChildProcess } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { run } from '../../../cli/dlq/main.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function dlq(argv: string[], o: { signal?: AbortSignal; stdin?: string; stdinTTY?: boolean } = {}): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const stdin = Object.assign(new PassThrough(), { isTTY: o.stdinTTY ?? false });
  if (o.stdin !== undefined) stdin.end(o.stdin);
  const code = await run(argv, { stdout, stderr, stdin, env: process.env, signal: o.signal ?? new AbortController().signal });
  return { code, stdout: out, stderr: err };
}

/** The four queue flags of a local pipeline, and `--wait` (seconds a receive waits). */
export const pipelineQueueFlags = (q: { ingressUrl: string; ingressDlqUrl: string; syncUrl: string; syncDlqUrl: string }, wait = 0) => [
  ...['--wait', String(wait), '--ingress-url', q.ingressUrl, '--ingress-dlq-url', q.ingressDlqUrl],
  ...['--sync-url', q.syncUrl, '--sync-dlq-url', q.syncDlqUrl],
];

export const CLI_ENTRY = fileURLToPath(new URL('../../../cli/dlq.ts', import.meta.url));
export const CLI_SHIM = fileURLToPath(new URL('../../../cli/dlq.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Child {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | NodeJS.Signals>;
}

/**
 * The CLI as an operator runs it, in its own Node process. `node --import tsx` rather than the tsx
 * CLI, which forks a second process: a signal must reach the process doing the work.
 */
export function spawnCli(argv: string[], env: NodeJS.ProcessEnv, entry: 'tsx' | 'shim' = 'tsx'): Child {
  const args = entry === 'tsx' ? ['--import', 'tsx', CLI_ENTRY, ...argv] : [CLI_SHIM, ...argv];
  const proc = spawn(process.execPath, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | NodeJS.Signals>((resolve) => proc.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  return { proc, stdout: () => out, stderr: () => err, exited };
}
