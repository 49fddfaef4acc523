/**
 * CPU floor of one Nango request: per record, one PATCH /connections/metadata through an undici
 * Agent (what apply sends, without anything around it). Record body: {"connectionId","providerConfigKey"}.
 */
import type { SQSEvent } from 'aws-lambda';
import { Agent } from 'undici';

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 32, pipelining: 1 });

export const handler = async (event: SQSEvent): Promise<void> => {
  const origin = new URL(process.env.NANGO_HOST!).origin;
  for (const r of event.Records) {
    const t = JSON.parse(r.body) as { connectionId: string; providerConfigKey: string };
    const res = await agent.request({
      origin,
      path: '/connections/metadata',
      method: 'PATCH',
      headers: { authorization: `Bearer ${process.env.NANGO_SECRET_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ connection_id: t.connectionId, provider_config_key: t.providerConfigKey, metadata: { floor: r.messageId } }),
    });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`floor-undici: HTTP ${res.statusCode}`);
  }
};
