/**
 * The send tool's entry point: `npm run send -- FILES... [--stack NAME | --bus NAME | --queue-url URL]`.
 * See cli/send/args.ts for the options.
 */
import { stdoutOut } from './format.ts';
import { runSend } from './send/main.ts';

// The SDK warns on every run that Node 20 support ends in 2027; an operator cannot act on that here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

process.exitCode = await runSend(process.argv.slice(2), {
  stdout: stdoutOut(process.stdout),
  stderr: stdoutOut(process.stderr),
});
