/**
 * `npm start -- --keep-running`: after the report the pipeline stays up, so the DLQ tool
 * (`npm run dlq`) can list, fix-then-replay and purge against it, as an operator would in AWS.
 * Prints the environment the tool needs, then a line whenever a queue or Nango's request count
 * changes, until Ctrl-C (or the given signal).
 */
import type { Out } from './format.ts';
import type { LocalPipeline } from '../local/pipeline.ts';
import { queueCounts } from '../local/event-source.ts';

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The shell lines that point the DLQ tool (and the AWS CLI) at this pipeline. */
export function exportsFor(p: LocalPipeline): string[] {
  const e = p.env;
  const pairs: [string, string | undefined][] = [
    ['AWS_ENDPOINT_URL_SQS', e.AWS_ENDPOINT_URL_SQS],
    ['AWS_ENDPOINT_URL_SECRETS_MANAGER', e.AWS_ENDPOINT_URL_SECRETS_MANAGER],
    ['AWS_REGION', process.env.AWS_REGION ?? 'us-east-1'],
    ['AWS_ACCESS_KEY_ID', 'local'],
    ['AWS_SECRET_ACCESS_KEY', 'local'],
    ['INGRESS_QUEUE_URL', p.queues.ingressUrl],
    ['INGRESS_DLQ_URL', p.queues.ingressDlqUrl],
    ['PATCHES_QUEUE_URL', p.queues.patchesUrl],
    ['PATCHES_DLQ_URL', p.queues.patchesDlqUrl],
    ['NANGO_HOST', p.nangoUrl],
    ['NANGO_SECRET_ID', p.secretId],
  ];
  return pairs.filter(([, v]) => v).map(([k, v]) => `export ${k}=${shellQuote(v!)}`);
}

export function keepRunningText(p: LocalPipeline, unknownConnections: { connectionId: string; providerConfigKey: string }[]): string {
  const lines = [
    '',
    'The pipeline keeps running until Ctrl-C. In another terminal, the DLQ tool works against it:',
    '',
    ...exportsFor(p).map((l) => `  ${l}`),
    '  npm run dlq -- list',
  ];
  if (p.nango && unknownConnections.length) {
    lines.push('', 'Fix the cause of the unknown_connection failures by creating the connections in the Nango stand-in:');
    for (const c of unknownConnections) {
      const body = JSON.stringify({ connectionId: c.connectionId, providerConfigKey: c.providerConfigKey });
      lines.push(`  curl -sX POST ${p.nangoUrl}/_standin/connections -H 'content-type: application/json' -d ${shellQuote(body)}`);
    }
  }
  lines.push(
    'then look before you leap, and replay:',
    '  npm run dlq -- replay --dry-run',
    '  npm run dlq -- replay',
    '',
    'Changes show up here as they happen.',
    '',
  );
  return lines.join('\n');
}

/** Prints a status line when something changes; resolves when `signal` aborts. */
export async function watchUntilAborted(p: LocalPipeline, out: Out, signal: AbortSignal, everyMs = 1000): Promise<void> {
  let last = '';
  const urls = [p.queues.ingressUrl, p.queues.patchesUrl, p.queues.ingressDlqUrl, p.queues.patchesDlqUrl];
  while (!signal.aborted) {
    const [ing, pat, idlq, pdlq] = await Promise.all(urls.map((u) => queueCounts(p.sqs, u)));
    const waiting = (c: typeof ing) => (c ? c.visible + c.inFlight + c.delayed : 0);
    const line =
      `ingress ${waiting(ing)}, patches ${waiting(pat)} | ingress-dlq ${waiting(idlq)}, patches-dlq ${waiting(pdlq)}` +
      (p.nango ? ` | Nango: ${p.nango.stats().patches} PATCH requests` : '');
    if (line !== last) {
      out.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
      last = line;
    }
    await new Promise<void>((r) => {
      const t = setTimeout(r, everyMs);
      signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
    });
  }
}
