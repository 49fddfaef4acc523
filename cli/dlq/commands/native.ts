/**
 * `replay --native`: SQS moves a whole DLQ back to its source queue itself (AWS only). No filters:
 * SQS moves everything. SQS moves bodies as they are; route and apply recognise their own stage's
 * failure envelopes and process the original messages inside, so envelopes need no unwrapping here.
 * The destination is always named: SQS knows the source only of messages its own redrive moved,
 * and most of a DLQ here was written by a function.
 */
import { createInterface } from 'node:readline/promises';
import type { Stage } from '#commons/dlq-envelope';
import { classify } from '../classify.ts';
import type { Context } from '../context.ts';
import { CliError, EXIT } from '../errors.ts';
import { hasCriteria } from '../filters.ts';
import { Holder } from '../holder.ts';
import { nativeRedrive } from '../native.ts';
import { STAGE_QUEUES } from '../model.ts';
import { dlqsFor, howToGive, type QueueUrls } from '../queues.ts';
import { checkDestinations, guard } from './replay.ts';

export async function nativeCommand(ctx: Context, urls: QueueUrls): Promise<number> {
  const { args } = ctx;
  if (hasCriteria(args.filter)) {
    throw new CliError('--native moves every message of a DLQ; it takes no filters. Drop --native to replay a chosen subset.');
  }
  const dlqs = dlqsFor(urls, args.stages);
  const holder = new Holder(ctx.sqs, Math.max(5, args.read.visibilitySeconds), ctx.endpoint);
  for (const d of dlqs) {
    const role = STAGE_QUEUES[d.stage].source;
    if (!urls[role]) throw new CliError(`no URL for the ${role} queue that ${d.stage} failures go back to: ${howToGive(role)}`);
  }
  const checks = await checkDestinations(holder, dlqs, urls);
  guard(ctx, checks);
  const plans: {
    stage: Stage;
    url: string;
    arn: string;
    destinationArn: string;
    approximate: number;
    envelopes: number;
    sampled: number;
  }[] = [];
  for (const d of dlqs) {
    const attrs = await holder.attributes(d.url);
    const arn = attrs.QueueArn;
    if (!arn) throw new CliError(`SQS returned no QueueArn for ${d.url}`);
    const destinationArn = checks.find((c) => c.stage === d.stage)?.destinationArn;
    if (!destinationArn) throw new CliError(`SQS returned no QueueArn for ${urls[STAGE_QUEUES[d.stage].source]}`);
    // A small sample shows what the DLQ holds (envelopes, bare redriven messages), for the operator.
    const sample = await holder.scan(d.url, { ...args.read, scanLimit: 10 });
    await holder.releaseAll();
    const kinds = sample.messages.map((m) => classify(m, d.stage).kind);
    const approximate =
      Number(attrs.ApproximateNumberOfMessages ?? 0) +
      Number(attrs.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(attrs.ApproximateNumberOfMessagesDelayed ?? 0);
    plans.push({ ...d, arn, destinationArn, approximate, envelopes: kinds.filter((k) => k === 'envelope').length, sampled: kinds.length });
  }
  for (const p of plans) {
    ctx.err(`${p.stage} DLQ ${p.url}: ~${p.approximate} message(s) to move to ${p.destinationArn} with StartMessageMoveTask.`);
    if (p.envelopes) {
      ctx.err(
        `  ${p.envelopes} of ${p.sampled} sampled message(s) are failure envelopes: SQS moves them as they are and the ${p.stage} function ` +
          'processes the original messages inside. Use plain `replay` (without --native) to choose a subset or to preview with --dry-run.',
      );
    }
  }
  if (args.dryRun) {
    if (args.json) ctx.json({ dryRun: true, native: true, queues: plans });
    return EXIT.ok;
  }
  const results = [];
  for (const p of plans) {
    const res = await nativeRedrive(ctx.sqs, {
      dlqUrl: p.url,
      dlqArn: p.arn,
      destinationArn: p.destinationArn,
      rate: args.rate,
      pollMs: Number(ctx.io.env.DLQ_NATIVE_POLL_MS ?? 2000),
      signal: ctx.io.signal,
      onStatus: (t) =>
        ctx.err(
          `${p.stage}: ${t.Status ?? '?'}  moved ${t.ApproximateNumberOfMessagesMoved ?? 0}/${t.ApproximateNumberOfMessagesToMove ?? '?'}` +
            (t.FailureReason ? `  (${t.FailureReason})` : ''),
        ),
    });
    results.push({
      stage: p.stage,
      url: p.url,
      taskHandle: res.taskHandle,
      status: res.final?.Status,
      moved: res.final?.ApproximateNumberOfMessagesMoved,
      failureReason: res.final?.FailureReason,
      detached: res.detached,
    });
    if (res.detached) {
      ctx.err(
        `Stopped watching; the move task goes on in AWS. Cancel it with: aws sqs cancel-message-move-task --task-handle '${res.taskHandle}'`,
      );
      break;
    }
  }
  if (args.json) ctx.json({ native: true, tasks: results });
  else
    for (const r of results)
      ctx.out(
        `${r.stage} DLQ: move task ${r.status ?? 'running'}${r.moved !== undefined ? `, ${r.moved} message(s) moved` : ''}${r.failureReason ? ` (${r.failureReason})` : ''}.`,
      );
  if (results.some((r) => r.detached)) return EXIT.interrupted;
  return results.every((r) => r.status === 'COMPLETED') ? EXIT.ok : EXIT.failed;
}

export async function confirm(ctx: Context, question: string, word: string): Promise<boolean> {
  const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stderr, terminal: false });
  try {
    const answer = await rl.question(question, { signal: ctx.io.signal });
    return answer.trim().toLowerCase() === word;
  } catch {
    return false;
  } finally {
    rl.close();
  }
}
