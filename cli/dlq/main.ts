/** Dispatch: parse, run the command, turn any error into one clear line and an exit code. */
import { parseCommandLine } from './args.ts';
import { HELP } from './help.ts';
import { listCommand } from './commands/list.ts';
import { purgeCommand } from './commands/purge.ts';
import { replayCommand } from './commands/replay.ts';
import { Context, type Io } from './context.ts';
import { describeError, EXIT } from './errors.ts';
import { scrub } from './scrub.ts';

export type { Io } from './context.ts';
export { EXIT } from './errors.ts';

export async function run(argv: readonly string[], io: Io): Promise<number> {
  let args: ReturnType<typeof parseCommandLine>;
  try {
    args = parseCommandLine(argv, io.now?.() ?? new Date());
  } catch (e) {
    const err = describeError(e);
    io.stderr.write(`dlq: ${scrub(err.message)}\n`);
    return err.exitCode;
  }
  if (args.help) {
    io.stdout.write(`${HELP[args.command]}\n`);
    return EXIT.ok;
  }
  const ctx = new Context(args, io);
  try {
    switch (args.command) {
      case 'list':
      case 'inspect':
        return await listCommand(ctx, args.command);
      case 'replay':
        return await replayCommand(ctx);
      case 'purge':
        return await purgeCommand(ctx);
      default:
        io.stdout.write(`${HELP.help}\n`);
        return EXIT.ok;
    }
  } catch (e) {
    const err = describeError(e, { endpoint: ctx.endpoint });
    io.stderr.write(`dlq ${args.command}: ${scrub(err.message)}\n`);
    return err.exitCode;
  } finally {
    ctx.destroy();
  }
}
