/**
 * The send tool's entry point: `npm run send -- FILES... [--stack NAME | --bus NAME | --queue-url URL]`.
 * See cli/send/args.ts for the options.
 */
import { stdoutOut } from './format.ts';
import { runSend } from './send/main.ts';

process.exitCode = await runSend(process.argv.slice(2), {
  stdout: stdoutOut(process.stdout),
  stderr: stdoutOut(process.stderr),
});
