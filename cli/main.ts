#!/usr/bin/env node
/**
 * `npx nango-metadata-sync <command>`: one bin for the operator tools and the local pipeline.
 * Each command keeps its own options (`<command> --help`).
 */
import { fileURLToPath } from 'node:url';

const USAGE = `Usage: nango-metadata-sync <command> [options]

Commands:
  start       run the pipeline on this machine (queues, state table and Nango stand-ins) on your catalog
  send        send event files to a deployed stack (its bus or ingress queue)
  dlq         list, replay and purge the DLQs of a deployed stack
  reconcile   compare Nango's metadata with the desired state and repair the drift
  state       read or reset the desired state of a subject

Run "nango-metadata-sync <command> --help" for a command's options.
`;

type Main = (argv: readonly string[]) => Promise<number>;

/** `.ts` from this repository's sources (tsx), `.js` in the package. */
const EXT = fileURLToPath(import.meta.url).endsWith('.ts') ? '.ts' : '.js';

/** Commands whose module runs on import with process.argv (they read argv themselves). */
async function runOnImport(load: () => Promise<unknown>, rest: string[]): Promise<undefined> {
  process.argv = [process.argv[0]!, process.argv[1]!, ...rest];
  await load();
  return undefined;
}

async function dispatch(command: string | undefined, rest: string[]): Promise<number | undefined> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  switch (command) {
    case 'start':
      return (await import('./local.ts')).main(rest);
    case 'reconcile':
      if (
        !rest.includes('--catalog') &&
        !rest.some((a) => a.startsWith('--catalog=')) &&
        !rest.includes('--help') &&
        !rest.includes('-h')
      ) {
        process.stderr.write(
          "nango-metadata-sync reconcile: --catalog PATH is required (your catalog module: its tag keys tell a connection's subjects)\n",
        );
        return 2;
      }
      return (await import('./reconcile.ts')).main(rest);
    case 'dlq':
      return runOnImport(() => import('./dlq.ts'), rest);
    case 'send':
      return runOnImport(() => import('./send.ts'), rest);
    case 'state': {
      // Loaded by computed path: the command may be absent from an older checkout.
      let mod: { main?: Main };
      try {
        mod = (await import(new URL(`./state${EXT}`, import.meta.url).href)) as { main?: Main };
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw e;
        process.stderr.write('nango-metadata-sync state: not available in this version\n');
        return 2;
      }
      if (!mod.main) throw new Error('the state command exports no main(argv)');
      return mod.main(rest);
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`nango-metadata-sync: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

const [command, ...rest] = process.argv.slice(2);
const code = await dispatch(command, rest).catch((e: unknown) => {
  process.stderr.write(`nango-metadata-sync ${command}: ${(e as Error).stack ?? String(e)}\n`);
  return 1;
});
if (code !== undefined) process.exitCode = code;
