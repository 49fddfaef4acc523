/**
 * Replay sends wherever it is told, so before anything is sent each destination is checked against
 * the DLQ being replayed: the destination's RedrivePolicy must name that DLQ (deadLetterTargetArn ==
 * the DLQ's QueueArn), and both must be FIFO or both standard. A wrong URL (another stack's queue,
 * the DLQ itself, a swapped flag) is refused instead of filling the wrong queue.
 */
import type { Stage } from '#commons/dlq-envelope';
import type { Holder } from './holder.ts';
import { isFifoUrl } from './queues.ts';

export interface DestinationCheck {
  stage: Stage;
  dlqUrl: string;
  dlqArn?: string | undefined;
  destinationUrl: string;
  destinationArn?: string | undefined;
  /** Why the destination does not fit the DLQ; empty when it does. */
  problems: string[];
}

const isFifo = (attrs: Record<string, string>, url: string) => attrs.FifoQueue === 'true' || isFifoUrl(url);

function deadLetterTarget(policy: string | undefined): string | undefined {
  if (!policy) return undefined;
  try {
    const p = JSON.parse(policy) as { deadLetterTargetArn?: unknown };
    return typeof p.deadLetterTargetArn === 'string' ? p.deadLetterTargetArn : undefined;
  } catch {
    return undefined;
  }
}

export async function checkDestination(holder: Holder, stage: Stage, dlqUrl: string, destinationUrl: string): Promise<DestinationCheck> {
  const [dlq, dest] = await Promise.all([holder.attributes(dlqUrl), holder.attributes(destinationUrl)]);
  const problems: string[] = [];
  const target = deadLetterTarget(dest.RedrivePolicy);
  if (!dlq.QueueArn) problems.push(`SQS returned no QueueArn for the DLQ ${dlqUrl}`);
  else if (!target) problems.push(`${destinationUrl} has no redrive policy: it is not the queue whose failures land in ${dlq.QueueArn}`);
  else if (target !== dlq.QueueArn)
    problems.push(`${destinationUrl} sends its failures to ${target}, not to the DLQ being replayed (${dlq.QueueArn})`);
  const dlqFifo = isFifo(dlq, dlqUrl);
  const destFifo = isFifo(dest, destinationUrl);
  if (dlqFifo !== destFifo) {
    problems.push(`the DLQ is ${dlqFifo ? 'FIFO' : 'standard'} but ${destinationUrl} is ${destFifo ? 'FIFO' : 'standard'}`);
  }
  return { stage, dlqUrl, dlqArn: dlq.QueueArn, destinationUrl, destinationArn: dest.QueueArn, problems };
}

export function describeProblems(checks: readonly DestinationCheck[]): string {
  return checks
    .filter((c) => c.problems.length)
    .map((c) => `${c.stage}: ${c.problems.join('; ')}`)
    .join('\n');
}
