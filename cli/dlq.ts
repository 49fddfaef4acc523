/**
 * The DLQ tool's entry point: `npm run dlq -- <command>` (or `npx tsx cli/dlq.ts`, or the
 * `npx nango-metadata-sync dlq` of the package, or cli/dlq.mjs). See cli/dlq/args.ts for the commands.
 *
 * Ctrl-C (or SIGTERM) once: finish the message in flight, make every held message visible again,
 * print the summary, exit 130. Twice: exit at once; held messages reappear at their visibility
 * timeout, so nothing is lost either way.
 */
import { run } from './dlq/main.ts';

// The SDK warns on every run that Node 20 support ends in 2027; an operator cannot act on that here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const controller = new AbortController();
let interrupts = 0;
const onSignal = () => {
  interrupts++;
  if (interrupts === 1) {
    process.stderr.write(
      '\ninterrupted: finishing the message in flight and putting the rest back (again to quit at once; nothing is lost either way)\n',
    );
    controller.abort();
  } else {
    process.exit(130);
  }
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  signal: controller.signal,
});
process.exitCode = code;
// stdin may be referenced by a prompt that was never answered; let the process end.
process.stdin.unref?.();
