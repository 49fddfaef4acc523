/** Runs the send CLI in-process, capturing what it prints; or as its own process, as an operator runs it. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runSend } from '../../../cli/send/main.ts';

export interface SendResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Retries fast in tests: the backoff's shape is the same, its scale smaller. */
export async function send(argv: string[], retry = { attempts: 5, baseMs: 5, maxMs: 20 }): Promise<SendResult> {
  let out = '';
  let err = '';
  const code = await runSend(argv, {
    stdout: { write: (t) => void (out += t), isTTY: false },
    stderr: { write: (t) => void (err += t), isTTY: false },
    retry,
  });
  return { code, stdout: out, stderr: err };
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function spawnSend(argv: string[], env: NodeJS.ProcessEnv): Promise<SendResult> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'cli/send.ts', ...argv], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => proc.on('exit', (code) => resolve({ code: code ?? -1, stdout: out, stderr: err })));
}
