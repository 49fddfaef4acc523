/**
 * The replay loop. For each chosen DLQ message, in order: send its original message(s) to the
 * stage's source queue, and only when every send succeeded delete it from the DLQ. A process that
 * dies anywhere in between leaves the message in the DLQ (sent or not): at least once, never lost.
 * An apply message whose send fails holds back the later messages of its connection, so a
 * connection's messages are never replayed out of order.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { describeError } from './errors.ts';
import type { Holder } from './holder.ts';
import type { DlqItem, Outgoing } from './model.ts';
import type { Pacer } from './pace.ts';
import type { Progress, ProgressCounts } from './progress.ts';

export interface ReplayTargets {
  ingress?: string | undefined;
  sync?: string | undefined;
}

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

export const emptyOutcome = (): ReplayOutcome => ({
  replayed: [],
  messagesSent: 0,
  failed: [],
  skipped: [],
  sentNotDeleted: [],
  interrupted: false,
});

export interface ReplayDeps {
  sqs: SQSClient;
  holder: Holder;
  targets: ReplayTargets;
  pacer: Pacer;
  signal: AbortSignal;
  progress?: Progress | undefined;
  /** Connection groups held back after a failed send; shared across rounds of one run. */
  blockedGroups?: Set<string> | undefined;
}

export async function replayItems(
  items: readonly DlqItem[],
  deps: ReplayDeps,
  out: ReplayOutcome = emptyOutcome(),
): Promise<ReplayOutcome> {
  const blockedGroups = deps.blockedGroups ?? new Set<string>();
  const counts = (): ProgressCounts => ({
    done: out.replayed.length + out.sentNotDeleted.length,
    failed: out.failed.length,
    skipped: out.skipped.length,
  });
  for (const item of items) {
    if (deps.signal.aborted) {
      out.interrupted = true;
      break;
    }
    if (!item.replay.ok) {
      out.skipped.push({ item, reason: item.replay.reason });
      deps.progress?.update(counts());
      continue;
    }
    const messages = item.replay.messages;
    const groups = messages.flatMap((m) => (m.groupId ? [m.groupId] : []));
    if (groups.some((g) => blockedGroups.has(g))) {
      out.skipped.push({ item, reason: 'an earlier message of this connection was not replayed; kept to preserve order' });
      deps.progress?.update(counts());
      continue;
    }

    let sent = 0;
    try {
      for (const m of messages) {
        await deps.pacer.take(deps.signal);
        // Not aborted mid-request: a send we cannot observe would leave us unsure what happened.
        await send(deps, m);
        sent++;
        out.messagesSent++;
      }
    } catch (e) {
      if (isAbort(e)) {
        // Interrupted while waiting for the pacer. A partly sent envelope stays in the DLQ and is sent whole next time.
        out.interrupted = true;
        if (sent) out.failed.push({ item, error: `interrupted after ${sent} of ${messages.length} messages` });
        break;
      }
      out.failed.push({ item, error: describeError(e, { queueUrl: targetUrl(deps.targets, messages[sent]!) }).message });
      for (const g of groups) blockedGroups.add(g);
      deps.progress?.update(counts());
      continue;
    }
    try {
      await deps.holder.delete(item.held);
      out.replayed.push(item);
    } catch (e) {
      out.sentNotDeleted.push({ item, error: describeError(e, { queueUrl: item.held.queueUrl }).message });
    }
    deps.progress?.update(counts());
  }
  return out;
}

async function send(deps: ReplayDeps, m: Outgoing): Promise<void> {
  const url = targetUrl(deps.targets, m);
  if (!url) throw new Error(`no URL for the ${m.queue} queue`);
  await deps.sqs.send(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: m.body,
      ...(m.groupId ? { MessageGroupId: m.groupId } : {}),
      ...(m.deduplicationId ? { MessageDeduplicationId: m.deduplicationId } : {}),
    }),
  );
}

const targetUrl = (t: ReplayTargets, m: Outgoing | undefined) => (m ? t[m.queue] : undefined);

const isAbort = (e: unknown) => (e as { name?: string } | undefined)?.name === 'AbortError';
