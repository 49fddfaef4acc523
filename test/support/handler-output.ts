/**
 * A setup file of every test project: the JSON lines that handlers under test print (Powertools'
 * logs and EMF metrics, thousands per run) go to a file instead of the test log, so the log shows
 * the tests. A test that asserts them captures them itself (test/support/logs.ts): a capture wraps
 * this writer and still sees every line. Other output passes through.
 *
 * The file: HANDLER_OUTPUT_FILE, or node_modules/.cache/handler-output/<project>.log (appended).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

const file =
  process.env['HANDLER_OUTPUT_FILE'] ??
  join(process.cwd(), 'node_modules', '.cache', 'handler-output', `${process.env['VITEST_PROJECT'] ?? 'tests'}.log`);
mkdirSync(dirname(file), { recursive: true });

type Write = typeof process.stdout.write;
const divert = (stream: NodeJS.WriteStream) => {
  const original = stream.write.bind(stream) as (...a: unknown[]) => boolean;
  stream.write = ((chunk: unknown, encoding?: unknown, cb?: unknown) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : undefined;
    if (text?.startsWith('{')) {
      appendFileSync(file, text);
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
      return true;
    }
    return original(chunk, encoding, cb);
  }) as Write;
};
divert(process.stdout);
divert(process.stderr);
