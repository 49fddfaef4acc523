/**
 * `send`: read and check every file, cut the events into batches, put them on the bus (or the
 * queue), retry what failed, and say what happened. Progress goes to stderr, the summary to stdout.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { npmTookDryRun, UsageError } from '../args.ts';
import { CliError, describeError, EXIT, scrub } from '../errors.ts';
import { type Out, plural, progressLine } from '../format.ts';
import { HELP, parseSendArgs, type SendArgs } from './args.ts';
import { batches, busItems, type Item, oversized, queueItems } from './batch.ts';
import { busSender, DEFAULT_RETRY, type DeliveryResult, deliver, queueSender, type RetryPolicy } from './deliver.ts';
import { type Destination, resolveDestination } from './destination.ts';
import { type EventFileEntry, expandPaths, readEventFile } from './read.ts';

export interface SendIo {
  stdout: Out;
  stderr: Out;
  retry?: RetryPolicy;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
}

export async function runSend(argv: readonly string[], io: SendIo): Promise<number> {
  const say = (text: string) => io.stdout.write(`${scrub(text)}\n`);
  try {
    const args = parseSendArgs(argv);
    if (args.help) {
      io.stdout.write(HELP);
      return EXIT.ok;
    }
    const tookDryRun = npmTookDryRun(io.env ?? process.env, 'send', args.dryRun);
    if (tookDryRun) throw tookDryRun;
    const events: EventFileEntry[] = [];
    for (const file of await expandPaths(args.files)) events.push(...(await readEventFile(file)));
    const dest = await resolveDestination(args);
    const items: Item<unknown>[] = dest.kind === 'bus' ? busItems(events, dest.busName) : queueItems(events);
    const tooLarge = oversized(items);
    if (tooLarge.length) throw new UsageError(`${plural(tooLarge.length, 'event')} too large, nothing sent:\n  ${tooLarge.join('\n  ')}`);
    const planned = batches(items);
    const where = dest.kind === 'bus' ? `bus ${dest.busName}` : `queue ${dest.queueUrl}`;
    if (args.dryRun) {
      say(
        `Dry run: ${plural(events.length, 'event')} from ${plural(args.files.length, 'path')} would go to ${where} in ${plural(planned.length, 'request')}. Nothing sent.`,
      );
      for (const e of events) say(`  ${e.where}: ${e.source} / ${e.detailType}${e.time ? ` at ${e.time.toISOString()}` : ''}`);
      return EXIT.ok;
    }
    const result = await send(args, dest, planned, io);
    say(summary(result, events.length, where));
    if (result.stoppedBy !== undefined) {
      const err = describeError(result.stoppedBy, { endpoint: args.endpointUrl ?? 'the AWS endpoint' });
      io.stderr.write(`send: stopped, ${plural(result.notSent, 'event')} not sent: ${scrub(err.message)}\n`);
      return Math.max(err.exitCode, EXIT.failed);
    }
    return result.failed.length ? EXIT.failed : EXIT.ok;
  } catch (e) {
    const err = e instanceof UsageError ? new CliError(`${e.message} (see --help)`, EXIT.usage) : describeError(e);
    io.stderr.write(`send: ${scrub(err.message)}\n`);
    return err.exitCode;
  }
}

async function send(args: SendArgs, dest: Destination, planned: Item<unknown>[][], io: SendIo): Promise<DeliveryResult> {
  const config = { ...(args.region ? { region: args.region } : {}), ...(args.endpointUrl ? { endpoint: args.endpointUrl } : {}) };
  const total = planned.reduce((n, b) => n + b.length, 0);
  const bar = progressLine(io.stderr);
  const progress = (r: DeliveryResult) =>
    bar.update(`send: ${r.sent + r.failed.length + r.notSent}/${total}  sent ${r.sent}  failed ${r.failed.length}  retried ${r.retried}`);
  const policy = io.retry ?? DEFAULT_RETRY;
  if (dest.kind === 'bus') {
    const client = new EventBridgeClient(config);
    try {
      return await deliver(planned as Parameters<typeof deliver>[0], busSender(client) as Parameters<typeof deliver>[1], policy, progress);
    } finally {
      bar.done();
      client.destroy();
    }
  }
  const client = new SQSClient(config);
  try {
    return await deliver(planned as Item<string>[][], queueSender(client, dest.queueUrl), policy, progress);
  } finally {
    bar.done();
    client.destroy();
  }
}

function summary(r: DeliveryResult, total: number, where: string): string {
  const lines = [
    `Sent ${r.sent} of ${plural(total, 'event')} to ${where}${r.retried ? ` (${plural(r.retried, 'entry', 'entries')} retried)` : ''}.`,
  ];
  if (r.failed.length) {
    const byCode = new Map<string, number>();
    for (const f of r.failed) byCode.set(f.code, (byCode.get(f.code) ?? 0) + 1);
    lines.push(`Failed ${r.failed.length}: ${[...byCode].map(([c, n]) => `${c} x${n}`).join(', ')}`);
    for (const f of r.failed) lines.push(`  ${f.where}: ${f.code}${f.message ? ` ${f.message}` : ''}`);
  }
  return lines.join('\n');
}
