/**
 * The DLQ tool's entry point: `npm run dlq -- <command>` (or `npx tsx cli/dlq.ts`, the package's `npx nango-metadata-sync dlq`,
 * cli/dlq.mjs); the commands are in cli/dlq/args.ts. Ctrl-C (or SIGTERM) once: finish the message in flight, make every held
 * message visible again, print the summary, exit 130. Twice: exit at once; held messages reappear at their visibility timeout,
 * so nothing is lost either way.
 */
import { run } from './dlq/main.ts';

// The SDK warns on every run that Node 20 support ends in 2027; an operator cannot act on that here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(
      '\ninterrupted: finishing the message in flight and putting the rest back (again to quit at once; nothing is lost either way)\n',
    );
    controller.abort();
  });
}
const { stdout, stderr, stdin, env } = process;
process.exitCode = await run(process.argv.slice(2), { stdout, stderr, stdin, env, signal: controller.signal });
// stdin may be referenced by a prompt that was never answered; let the process end.
stdin.unref?.();
