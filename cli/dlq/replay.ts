/**
 * `replay`: parse, find the chosen DLQ messages, check each destination against its DLQ, move them
 * (send the originals, then delete from the DLQ), report. A message is always either still in the
 * DLQ or sent: it is deleted only once every send for it succeeded, and a process that dies in
 * between leaves it in the DLQ. `--dry-run` shows the plan beside Nango's current metadata;
 * `--native` hands the whole DLQ to SQS's own move task.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ListMessageMoveTasksCommand,
  type ListMessageMoveTasksResultEntry,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { SqsQueues } from '#commons/queues';
import { CliError, describeError, EXIT } from '../errors.ts';
import type { Ctx } from './main.ts';
import {
  classify,
  type Dlq,
  type DlqItem,
  dlqsFor,
  type Holder,
  hasCriteria,
  howToGive,
  isFifoUrl,
  type QueueReport,
  type QueueUrls,
  resolveQueueUrls,
  STAGE_QUEUES,
  scanDlqs,
  select,
} from './read.ts';
import {
  comparePatch,
  itemJson,
  type MetadataResult,
  NangoReader,
  readNangoKey,
  renderComparison,
  renderCurrent,
  renderReports,
  safe,
} from './show.ts';

export async function replayCommand(ctx: Ctx): Promise<number> {
  const { args } = ctx;
  // Find: the queues, then (a dry run that asks Nango reads and registers the key itself) the key to scrub.
  const urls = await resolveQueueUrls(args.queues, ctx.io.env, ctx.cloudFormation);
  if (!args.dryRun || args.nango.skip) await ctx.learnNangoKey();
  if (args.native) return nativeCommand(ctx, urls);
  const dlqs = dlqsFor(urls, args.stages);
  const holder = ctx.holder();
  if (args.dryRun) return dryRun(ctx, holder, dlqs, urls);

  // Check the destination before anything is read or sent.
  guard(ctx, await checkDestinations(holder, dlqs, urls));

  // Move, round after round: deleting the replayed heads of FIFO groups uncovers the messages behind them.
  const outcome = emptyOutcome();
  const processed = new Set<string>();
  const deps = { sqs: ctx.sqs, holder, targets: urls, pacer: pacer(args.rate), signal: ctx.io.signal, blockedGroups: new Set<string>() };
  const fifo = dlqs.some((d) => isFifoUrl(d.url));
  let remaining = args.filter.max ?? Number.POSITIVE_INFINITY;
  let selected = 0;
  let firstReports: QueueReport[] = [];
  let lastReports: QueueReport[] = [];
  let progress: Progress | undefined;
  for (let round = 0; ; round++) {
    const { items, reports } = await scanDlqs(holder, dlqs, args.read);
    lastReports = reports;
    if (round === 0) {
      firstReports = reports;
      if (!args.json) ctx.err(renderReports(reports));
    }
    const fresh = items.filter((i) => !processed.has(i.messageId));
    for (const i of fresh) processed.add(i.messageId);
    const chosen = select(fresh, { ...args.filter, max: Number.isFinite(remaining) ? remaining : undefined });
    if (!chosen.length) break;
    checkTargets(chosen, urls);
    remaining -= chosen.length;
    selected += chosen.length;
    progress ??= progressBar(ctx.io.stderr);
    progress.setTotal(selected);
    const before = outcome.replayed.length;
    await replayItems(chosen, { ...deps, progress }, outcome);
    // Only deleting the head of a FIFO group uncovers more; a standard queue was read whole.
    if (!fifo || outcome.interrupted || remaining <= 0 || outcome.replayed.length === before) break;
  }

  // Report.
  progress?.finish(counts(outcome));
  const after = await Promise.all(
    dlqs.map(async (d) => ({ stage: d.stage, url: d.url, approximateMessages: await holder.count(d.url).catch(() => undefined) })),
  );
  const o = outcome;
  if (args.json) {
    ctx.json({
      selected,
      replayed: o.replayed.length,
      messagesSent: o.messagesSent,
      failed: o.failed.map((f) => ({ messageId: f.item.messageId, error: f.error })),
      skipped: o.skipped.map((s) => ({ messageId: s.item.messageId, reason: s.reason })),
      sentNotDeleted: o.sentNotDeleted.map((s) => ({ messageId: s.item.messageId, error: s.error })),
      interrupted: o.interrupted,
      queuesBefore: firstReports,
      queuesAfter: after,
      notReached: lastReports.reduce((n, r) => n + r.notReached, 0),
    });
  } else {
    const lines = [
      selected
        ? `${o.interrupted ? 'Interrupted. ' : ''}Replayed ${o.replayed.length} of ${selected} chosen message(s): ${o.messagesSent} message(s) sent to source queues, ` +
          `${o.failed.length} failed, ${o.skipped.length} skipped, ${o.sentNotDeleted.length} sent but still in the DLQ.`
        : 'Nothing to replay: no message matches.',
      ...o.failed.map((f) => `  failed   ${f.item.messageId}: ${safe(f.error, 300)}`),
      ...o.skipped.map((s) => `  skipped  ${s.item.messageId}: ${safe(s.reason, 300)}`),
      ...o.sentNotDeleted.map((s) => `  sent, not deleted (a later replay sends it again) ${s.item.messageId}: ${safe(s.error, 300)}`),
      ...(o.interrupted ? ['Every message not replayed is still in the DLQ; run the same command again to go on.'] : []),
      after.map((a) => `${a.stage} DLQ now holds ~${a.approximateMessages ?? '?'} message(s).`).join(' '),
    ];
    ctx.out(lines.join('\n'));
  }
  if (o.interrupted) return EXIT.interrupted;
  return o.failed.length || o.sentNotDeleted.length || o.skipped.length ? EXIT.failed : EXIT.ok;
}

// ---- the destination check ------------------------------------------------------------------

export interface DestinationCheck {
  stage: Dlq['stage'];
  destinationArn?: string | undefined;
  /** Why the destination does not fit the DLQ; empty when it does. */
  problems: string[];
}

/**
 * Replay sends wherever it is told, so each destination must name the DLQ being replayed in its
 * RedrivePolicy (deadLetterTargetArn == the DLQ's QueueArn), and both must be FIFO or both
 * standard: a wrong URL (another stack's queue, the DLQ itself, a swapped flag) is refused.
 * Stages whose destination is not given are left to checkTargets.
 */
async function checkDestinations(holder: Holder, dlqs: readonly Dlq[], urls: QueueUrls): Promise<DestinationCheck[]> {
  const checks: DestinationCheck[] = [];
  for (const { stage, url: dlqUrl } of dlqs) {
    const destinationUrl = urls[STAGE_QUEUES[stage].source];
    if (!destinationUrl) continue;
    const [dlq, dest] = await Promise.all([holder.attributes(dlqUrl), holder.attributes(destinationUrl)]);
    const problems: string[] = [];
    const target = (() => {
      try {
        const p = JSON.parse(dest.RedrivePolicy ?? '') as { deadLetterTargetArn?: unknown };
        return typeof p.deadLetterTargetArn === 'string' ? p.deadLetterTargetArn : undefined;
      } catch {
        return undefined;
      }
    })();
    if (!dlq.QueueArn) problems.push(`SQS returned no QueueArn for the DLQ ${dlqUrl}`);
    else if (!target) problems.push(`${destinationUrl} has no redrive policy: it is not the queue whose failures land in ${dlq.QueueArn}`);
    else if (target !== dlq.QueueArn)
      problems.push(`${destinationUrl} sends its failures to ${target}, not to the DLQ being replayed (${dlq.QueueArn})`);
    const [dlqFifo, destFifo] = [dlq.FifoQueue === 'true' || isFifoUrl(dlqUrl), dest.FifoQueue === 'true' || isFifoUrl(destinationUrl)];
    const kind = (fifo: boolean) => (fifo ? 'FIFO' : 'standard');
    if (dlqFifo !== destFifo) problems.push(`the DLQ is ${kind(dlqFifo)} but ${destinationUrl} is ${kind(destFifo)}`);
    checks.push({ stage, destinationArn: dest.QueueArn, problems });
  }
  return checks;
}

const describeProblems = (checks: readonly DestinationCheck[]): string =>
  checks
    .filter((c) => c.problems.length)
    .map((c) => `${c.stage}: ${c.problems.join('; ')}`)
    .join('\n');

/** Refuses (exit 2) before anything is sent, unless --force, which says loudly what it overrides. */
function guard(ctx: Ctx, checks: readonly DestinationCheck[]): void {
  const bad = describeProblems(checks);
  if (!bad) return;
  if (!ctx.args.force) {
    throw new CliError(`refusing to replay, nothing was sent:\n${bad}\nCheck the queue URLs (or --stack); --force replays anyway.`);
  }
  ctx.err(`WARNING: --force given: replaying although\n${bad}`);
}

/** Fails before anything is sent when a chosen message's source queue is unknown. */
function checkTargets(items: readonly DlqItem[], urls: QueueUrls): void {
  for (const stage of ['route', 'apply'] as const) {
    const role = STAGE_QUEUES[stage].source;
    if (items.some((i) => i.replay.ok && i.replay.messages.some((m) => m.queue === role)) && !urls[role]) {
      throw new CliError(`no URL for the ${role} queue that ${stage} failures go back to: ${howToGive(role)}`);
    }
  }
}

// ---- the move --------------------------------------------------------------------------------

export interface ReplayOutcome {
  /** Sent and deleted from the DLQ. */
  replayed: DlqItem[];
  /** Messages put on source queues (an envelope of several originals holds several). */
  messagesSent: number;
  /** Not sent (or only partly); still in the DLQ. */
  failed: { item: DlqItem; error: string }[];
  /** Not attempted; still in the DLQ. */
  skipped: { item: DlqItem; reason: string }[];
  /** Sent, but SQS refused the delete: still in the DLQ, and a later replay sends it again. */
  sentNotDeleted: { item: DlqItem; error: string }[];
  interrupted: boolean;
}

const emptyOutcome = (): ReplayOutcome => ({
  replayed: [],
  messagesSent: 0,
  failed: [],
  skipped: [],
  sentNotDeleted: [],
  interrupted: false,
});
const counts = (o: ReplayOutcome) => ({
  done: o.replayed.length + o.sentNotDeleted.length,
  failed: o.failed.length,
  skipped: o.skipped.length,
});

export interface ReplayDeps {
  sqs: SQSClient;
  holder: Holder;
  targets: { ingress?: string | undefined; sync?: string | undefined };
  pacer: Pacer;
  signal: AbortSignal;
  progress?: Progress | undefined;
  /** Connection groups held back after a failed send; shared across rounds of one run. */
  blockedGroups?: Set<string> | undefined;
}

/**
 * For each item, in order: send its original message(s) to the stage's source queue, then delete it
 * from the DLQ. An apply message whose send fails holds back the later messages of its connection,
 * so a connection's messages are never replayed out of order.
 */
export async function replayItems(items: readonly DlqItem[], deps: ReplayDeps, out = emptyOutcome()): Promise<ReplayOutcome> {
  const blocked = deps.blockedGroups ?? new Set<string>();
  const queues = new SqsQueues(deps.sqs);
  for (const item of items) {
    if (deps.signal.aborted) {
      out.interrupted = true;
      break;
    }
    const groups = item.replay.ok ? item.replay.messages.flatMap((m) => (m.groupId ? [m.groupId] : [])) : [];
    if (!item.replay.ok) out.skipped.push({ item, reason: item.replay.reason });
    else if (groups.some((g) => blocked.has(g)))
      out.skipped.push({ item, reason: 'an earlier message of this connection was not replayed; kept to preserve order' });
    else {
      const messages = item.replay.messages;
      let sent = 0;
      try {
        for (const { queue, ...m } of messages) {
          await deps.pacer.take(deps.signal);
          const url = deps.targets[queue];
          if (!url) throw new Error(`no URL for the ${queue} queue`);
          // Not aborted mid-request: a send we cannot observe would leave us unsure what happened.
          await queues.send(url, m);
          sent++;
          out.messagesSent++;
        }
        await deps.holder.delete(item.held).then(
          () => out.replayed.push(item),
          (e: unknown) => out.sentNotDeleted.push({ item, error: describeError(e, { queueUrl: item.held.queueUrl }).message }),
        );
      } catch (e) {
        if ((e as Error | undefined)?.name === 'AbortError') {
          // Interrupted while waiting for the pacer. A partly sent envelope stays in the DLQ and is sent whole next time.
          out.interrupted = true;
          if (sent) out.failed.push({ item, error: `interrupted after ${sent} of ${messages.length} messages` });
          break;
        }
        const queueUrl = messages[sent] ? deps.targets[messages[sent]!.queue] : undefined;
        out.failed.push({ item, error: describeError(e, { queueUrl }).message });
        for (const g of groups) blocked.add(g);
      }
    }
    deps.progress?.update(counts(out));
  }
  return out;
}

export interface Pacer {
  /** Resolves when the next send may start; rejects with an AbortError if the signal fires first. */
  take(signal?: AbortSignal): Promise<void>;
}

/** Sends evenly spaced (no bursts), so a large replay does not flood the pipeline and Nango's rate limit behind it. */
export function pacer(
  perSecond: number,
  clock: { now(): number; sleep(ms: number, signal?: AbortSignal): Promise<unknown> } = {
    now: () => performance.now(),
    sleep: (ms, signal) => sleep(ms, undefined, { signal }),
  },
): Pacer {
  const interval = 1000 / perSecond;
  let next = -Infinity;
  return {
    async take(signal) {
      signal?.throwIfAborted();
      if (!(perSecond > 0)) return;
      const t = clock.now();
      const at = Math.max(t, next);
      next = at + interval;
      if (at > t) await clock.sleep(at - t, signal);
    },
  };
}

type Counts = ReturnType<typeof counts>;
interface Progress {
  /** A FIFO DLQ reveals more messages per round: the total grows. */
  setTotal(n: number): void;
  update(c: Counts): void;
  finish(c: Counts): void;
}

/** On stderr, so stdout stays clean for --json: one redrawn line on a terminal, else a line every few seconds and at the end. */
function progressBar(out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }): Progress {
  const start = performance.now();
  let total = 0;
  let lastLine = -Infinity;
  const line = (c: Counts) => {
    const handled = c.done + c.failed + c.skipped;
    const width = Math.max(10, Math.min(30, (out.columns ?? 80) - 60));
    const fill = Math.round((total ? handled / total : 1) * width);
    const secs = (performance.now() - start) / 1000;
    const rate = secs > 0 ? c.done / secs : 0;
    return `replay [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${handled}/${total}  sent ${c.done}  failed ${c.failed}  skipped ${c.skipped}  ${rate.toFixed(1)}/s`;
  };
  return {
    setTotal: (n) => (total = n),
    update(c) {
      if (out.isTTY) out.write(`\r${line(c)}\x1b[K`);
      else if (performance.now() - lastLine >= 5000) {
        lastLine = performance.now();
        out.write(`${line(c)}\n`);
      }
    },
    finish: (c) => out.write(out.isTTY ? `\r${line(c)}\x1b[K\n` : `${line(c)}\n`),
  };
}

// ---- a dry run -------------------------------------------------------------------------------

async function dryRun(ctx: Ctx, holder: Holder, dlqs: Dlq[], urls: QueueUrls): Promise<number> {
  const { args } = ctx;
  const { items, reports } = await scanDlqs(holder, dlqs, args.read);
  const chosen = select(items, args.filter);
  const needsNango = !args.nango.skip && chosen.some((i) => i.stage === 'apply' && i.connectionId !== undefined);
  const found = needsNango ? await readNangoKey(args.nango, ctx.io.env, ctx.secrets) : undefined;
  if (!needsNango && !args.nango.skip) await ctx.learnNangoKey();
  const host = args.nango.host ?? ctx.io.env.NANGO_HOST ?? found?.host ?? 'https://api.nango.dev';
  const reader = found ? new NangoReader(host, found.key) : undefined;
  const destinationProblems = describeProblems(await checkDestinations(holder, dlqs, urls));
  const cache = new Map<string, Promise<MetadataResult>>();
  const current = (i: DlqItem): Promise<MetadataResult> | undefined => {
    if (!reader || i.stage !== 'apply' || i.connectionId === undefined || i.providerConfigKey === undefined) return undefined;
    const k = JSON.stringify([i.providerConfigKey, i.connectionId]);
    if (!cache.has(k)) cache.set(k, reader.metadataOf(i.connectionId, i.providerConfigKey));
    return cache.get(k);
  };
  const missing = (['route', 'apply'] as const)
    .map((stage) => STAGE_QUEUES[stage].source)
    .filter((role) => chosen.some((i) => i.replay.ok && i.replay.messages.some((m) => m.queue === role)) && !urls[role])
    .map((role) => `${role} (${howToGive(role)})`);
  try {
    if (args.json) {
      const out = [];
      for (const i of chosen) {
        const cur = await current(i);
        out.push({
          ...itemJson(i, true),
          current: cur,
          comparison: cur?.ok && i.patch ? comparePatch(cur.metadata, i.patch, i.keyTimes) : undefined,
        });
      }
      const problems = destinationProblems ? destinationProblems.split('\n') : [];
      ctx.json({
        dryRun: true,
        queues: reports,
        selected: chosen.length,
        nango: reader?.host ?? null,
        missingTargets: missing,
        destinationProblems: problems,
        items: out,
      });
      return EXIT.ok;
    }
    ctx.out(renderReports(reports));
    ctx.out(
      `Dry run: ${chosen.length} message(s) chosen, ${chosen.filter((i) => i.replay.ok).length} replayable. Nothing is sent or removed.`,
    );
    if (missing.length) ctx.out(`Before a real replay, give the queue URL for: ${missing.join('; ')}`);
    if (destinationProblems) ctx.out(`A real replay would refuse (without --force):\n${destinationProblems}`);
    if (needsNango && !reader) {
      ctx.out(
        "(No Nango key: set NANGO_SECRET_KEY, or NANGO_SECRET_ID / --nango-secret-id, to see each connection's current metadata; --no-nango hides this note.)",
      );
    }
    for (const i of chosen) {
      const head = `[${i.stage}] ${i.messageId}  ${safe(i.errorCode, 40)}${i.status ? ` (HTTP ${i.status})` : ''}  ${safe(i.eventType ?? '-', 40)}`;
      const target = i.connectionId !== undefined ? `  ${safe(i.providerConfigKey ?? '-', 40)} / ${safe(i.connectionId, 60)}` : '';
      ctx.out(`\n${head}${target}`);
      if (!i.replay.ok) {
        ctx.out(`  not replayable: ${safe(i.replay.reason, 200)}`);
        continue;
      }
      for (const m of i.replay.messages) {
        ctx.out(
          `  -> ${m.queue}${m.groupId ? ` group ${m.groupId.slice(0, 12)}…` : ''}${i.stage === 'route' ? `: ${safe(m.body, 300)}` : ''}`,
        );
      }
      // A sync message carries no data: apply sends the latest desired state, so show what Nango holds now.
      const shown =
        i.stage !== 'apply'
          ? undefined
          : i.patch
            ? renderComparison(i.patch, await current(i), i.keyTimes)
            : reader && renderCurrent(await current(i));
      if (shown) ctx.out(shown.replace(/^/gm, '  '));
    }
    return EXIT.ok;
  } finally {
    await reader?.close();
  }
}

// ---- --native: SQS's own move task ---------------------------------------------------------------

/**
 * SQS moves a whole DLQ back (AWS only; no filters), bodies as they are: route and apply recognise
 * their own stage's envelopes and process the originals inside. The destination is always named:
 * SQS knows the source only of messages its own redrive moved. Interrupting stops the watching only.
 */
async function nativeCommand(ctx: Ctx, urls: QueueUrls): Promise<number> {
  const { args } = ctx;
  if (hasCriteria(args.filter)) {
    throw new CliError('--native moves every message of a DLQ; it takes no filters. Drop --native to replay a chosen subset.');
  }
  const dlqs = dlqsFor(urls, args.stages);
  const holder = ctx.holder(Math.max(5, args.read.visibilitySeconds), false);
  for (const d of dlqs) {
    const role = STAGE_QUEUES[d.stage].source;
    if (!urls[role]) throw new CliError(`no URL for the ${role} queue that ${d.stage} failures go back to: ${howToGive(role)}`);
  }
  const checks = await checkDestinations(holder, dlqs, urls);
  guard(ctx, checks);
  const plans = [];
  for (const d of dlqs) {
    const attrs = await holder.attributes(d.url);
    const arn = attrs.QueueArn;
    if (!arn) throw new CliError(`SQS returned no QueueArn for ${d.url}`);
    const destinationArn = checks.find((c) => c.stage === d.stage)?.destinationArn;
    if (!destinationArn) throw new CliError(`SQS returned no QueueArn for ${urls[STAGE_QUEUES[d.stage].source]}`);
    // A small sample shows what the DLQ holds (envelopes, bare redriven messages), for the operator.
    const sample = await holder.scan(d.url, { ...args.read, scanLimit: 10 });
    await holder.releaseAll();
    const envelopes = sample.messages.filter((m) => classify(m, d.stage).kind === 'envelope').length;
    const approximate = ['', 'NotVisible', 'Delayed'].reduce((n, s) => n + Number(attrs[`ApproximateNumberOfMessages${s}`] ?? 0), 0);
    plans.push({ ...d, arn, destinationArn, approximate, envelopes, sampled: sample.messages.length });
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
    const r = await moveTask(ctx, p);
    results.push(r);
    if (r.detached) {
      ctx.err(
        `Stopped watching; the move task goes on in AWS. Cancel it with: aws sqs cancel-message-move-task --task-handle '${r.taskHandle}'`,
      );
      break;
    }
  }
  if (args.json) ctx.json({ native: true, tasks: results });
  for (const r of args.json ? [] : results) {
    const moved = r.moved !== undefined ? `, ${r.moved} message(s) moved` : '';
    ctx.out(`${r.stage} DLQ: move task ${r.status ?? 'running'}${moved}${r.failureReason ? ` (${r.failureReason})` : ''}.`);
  }
  if (results.some((r) => r.detached)) return EXIT.interrupted;
  return results.every((r) => r.status === 'COMPLETED') ? EXIT.ok : EXIT.failed;
}

/** Starts the move task and follows it with ListMessageMoveTasks until it ends or the operator interrupts. */
async function moveTask(ctx: Ctx, p: Dlq & { arn: string; destinationArn: string }) {
  const rate = ctx.args.rate > 0 ? { MaxNumberOfMessagesPerSecond: Math.max(1, Math.min(500, Math.floor(ctx.args.rate))) } : {};
  const call = <T>(request: Promise<T>) =>
    request.catch((e: unknown) => {
      throw describeError(e, { queueUrl: p.url });
    });
  const start = new StartMessageMoveTaskCommand({ SourceArn: p.arn, DestinationArn: p.destinationArn, ...rate });
  const taskHandle = (await call(ctx.sqs.send(start))).TaskHandle ?? '';
  const result = (t: ListMessageMoveTasksResultEntry | undefined, detached: boolean) => ({
    stage: p.stage,
    url: p.url,
    taskHandle,
    status: t?.Status,
    moved: t?.ApproximateNumberOfMessagesMoved,
    failureReason: t?.FailureReason,
    detached,
  });
  for (;;) {
    const list = await call(ctx.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: p.arn, MaxResults: 10 })));
    const t = list.Results?.find((r) => r.TaskHandle === taskHandle) ?? list.Results?.[0];
    if (t) {
      const failure = t.FailureReason ? `  (${t.FailureReason})` : '';
      ctx.err(
        `${p.stage}: ${t.Status ?? '?'}  moved ${t.ApproximateNumberOfMessagesMoved ?? 0}/${t.ApproximateNumberOfMessagesToMove ?? '?'}${failure}`,
      );
      if (['COMPLETED', 'CANCELLED', 'FAILED'].includes(t.Status ?? '')) return result(t, false);
    }
    try {
      await sleep(Number(ctx.io.env.DLQ_NATIVE_POLL_MS ?? 2000), undefined, { signal: ctx.io.signal });
    } catch {
      return result(t, true);
    }
  }
}
