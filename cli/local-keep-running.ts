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
    ['AWS_ENDPOINT_URL_DYNAMODB', e.AWS_ENDPOINT_URL_DYNAMODB],
    ['AWS_ENDPOINT_URL_SECRETS_MANAGER', e.AWS_ENDPOINT_URL_SECRETS_MANAGER],
    ['AWS_REGION', process.env.AWS_REGION ?? 'us-east-1'],
    ['AWS_ACCESS_KEY_ID', 'local'],
    ['AWS_SECRET_ACCESS_KEY', 'local'],
    ['INGRESS_QUEUE_URL', p.queues.ingressUrl],
    ['INGRESS_DLQ_URL', p.queues.ingressDlqUrl],
    ['SYNC_QUEUE_URL', p.queues.syncUrl],
    ['SYNC_DLQ_URL', p.queues.syncDlqUrl],
    ['STATE_TABLE_NAME', e.STATE_TABLE_NAME],
    ['NANGO_HOST', p.nangoUrl],
    ['NANGO_SECRET_ID', p.secretId],
  ];
  return pairs.filter(([, v]) => v).map(([k, v]) => `export ${k}=${shellQuote(v!)}`);
}

export function keepRunningText(p: LocalPipeline): string {
  const lines = [
    '',
    'The pipeline keeps running until Ctrl-C. In another terminal, the operator tools work against it:',
    '',
    ...exportsFor(p).map((l) => `  ${l}`),
    "  npm run dlq -- list                      # what failed, with Nango's errors",
    '  npm run reconcile -- --dry-run           # drift between Nango and the desired state',
    `  npm run send -- events/samples/01-plan-changed-acme.json --queue-url ${shellQuote(p.queues.ingressUrl)}`,
  ];
  lines.push('', `Webhook URL (the webhook function): ${p.webhook.url}`);
  if (!p.nango) {
    lines.push(
      '  A real Nango does not deliver webhooks to loopback or private addresses: expose this URL through a',
      "  tunnel (e.g. cloudflared, ngrok) and set the tunnel's URL as the environment's webhook URL in Nango.",
      "  Signatures are checked with WEBHOOK_SIGNING_KEY, the environment's webhook signing key.",
    );
  }
  if (p.nango) {
    const body = JSON.stringify({
      connectionId: 'f3e1c2d4-0000-4000-8000-000000000001',
      providerConfigKey: 'hubspot',
      tags: { organization_id: 'globex' },
    });
    lines.push(
      '',
      'Connect a customer as the Connect UI would (the stand-in sends the auth webhook; the connection is seeded):',
      `  curl -sX POST ${p.nangoUrl}/_standin/connections -H 'content-type: application/json' -d ${shellQuote(body)}`,
    );
  }
  lines.push('', 'Changes show up here as they happen.', '');
  return lines.join('\n');
}

/** Prints a status line when something changes; resolves when `signal` aborts. */
export async function watchUntilAborted(p: LocalPipeline, out: Out, signal: AbortSignal, everyMs = 1000): Promise<void> {
  let last = '';
  const urls = [p.queues.ingressUrl, p.queues.syncUrl, p.queues.ingressDlqUrl, p.queues.syncDlqUrl];
  while (!signal.aborted) {
    const [ing, pat, idlq, pdlq] = await Promise.all(urls.map((u) => queueCounts(p.sqs, u)));
    const waiting = (c: typeof ing) => (c ? c.visible + c.inFlight + c.delayed : 0);
    const line =
      `ingress ${waiting(ing)}, sync ${waiting(pat)} | ingress-dlq ${waiting(idlq)}, sync-dlq ${waiting(pdlq)}` +
      (p.nango ? ` | Nango: ${p.nango.stats().patches} PATCH requests, ${p.nango.connections().length} connections` : '');
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
