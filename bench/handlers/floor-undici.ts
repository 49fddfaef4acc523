/**
 * CPU floor of one Nango request: per record, one GET /connections/{id} through an undici Agent
 * (what the Nango client does, without anything around it). Record body: {"connectionId","providerConfigKey"}.
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
      path: `/connections/${encodeURIComponent(t.connectionId)}?provider_config_key=${encodeURIComponent(t.providerConfigKey)}`,
      method: 'GET',
      headers: { authorization: `Bearer ${process.env.NANGO_SECRET_KEY}`, accept: 'application/json' },
    });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`floor-undici: HTTP ${res.statusCode}`);
  }
};
