/**
 * SQS long polling as AWS answers it: a ReceiveMessage that waits returns empty only when its wait
 * ran out. fauxqs 2.x wakes every waiting receive when one message arrives and each dequeues on its
 * own, so all but one return empty at once and their pollers ask again: a request per poller per
 * message that AWS never sees (and never bills). This patch keeps a woken receive waiting unless
 * there is something for it: a message not yet claimed by another receive woken in the same turn.
 */

/** The parts of fauxqs 2.x's (unexported) queue this patch touches. */
export interface LongPollQueue {
  messages: unknown[];
  isFifo(): boolean;
  hasAvailableFifoMessages(): boolean;
  fifoMessages: Map<string, unknown[]>;
  fifoLockedGroups: Map<string, number>;
  waitForMessages(waitTimeSeconds: number): Promise<void>;
}

/** How many woken receives can each expect at least one message: 10 per receive on a standard queue, one free group each on a FIFO. */
function receivable(q: LongPollQueue): number {
  if (!q.isFifo()) return Math.ceil(q.messages.length / 10);
  let groups = 0;
  for (const [id, msgs] of q.fifoMessages) if (msgs.length > 0 && !q.fifoLockedGroups.has(id)) groups++;
  return groups;
}

export function patchLongPoll(q: LongPollQueue): void {
  if (!Array.isArray(q.messages) || typeof q.waitForMessages !== 'function' || !(q.fifoMessages instanceof Map)) {
    throw new Error('local SQS: fauxqs queue internals changed (messages, fifoMessages, waitForMessages)');
  }
  const wait = q.waitForMessages.bind(q);
  // Receives woken in this turn of the event loop that will dequeue next: each woken receive
  // dequeues within the same turn (promise continuations), so the count resets before the next.
  let claims = 0;
  let resetting = false;
  q.waitForMessages = async (waitTimeSeconds: number) => {
    const until = Date.now() + waitTimeSeconds * 1000;
    for (;;) {
      const left = until - Date.now();
      if (left <= 0) return;
      await wait(left / 1000);
      if (Date.now() >= until) return;
      if (claims < receivable(q)) {
        claims++;
        if (!resetting) {
          resetting = true;
          setImmediate(() => {
            claims = 0;
            resetting = false;
          });
        }
        return;
      }
    }
  };
}
