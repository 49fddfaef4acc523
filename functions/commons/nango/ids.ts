/** Ids are checked before any request: a bad id is a permanent error with a clear message, never a request elsewhere. */
import { connectionIdSchema, providerConfigKeySchema } from '#events/ids';
import type { Target } from '../sync/message.ts';
import { Failure } from '../failure.ts';

export function assertValidTarget(t: Target): void {
  assertValidConnectionId(t.connectionId);
  const k = providerConfigKeySchema.safeParse(t.providerConfigKey);
  if (!k.success) {
    const message = `provider config key rejected before sending: ${k.error.issues[0]?.message}`;
    throw new Failure({ source: 'input', kind: 'invalid', code: 'invalid_provider_config_key', message });
  }
}

function assertValidConnectionId(id: string): void {
  const c = connectionIdSchema.safeParse(id);
  if (!c.success) {
    const message = `connection id rejected before sending: ${c.error.issues[0]?.message}`;
    throw new Failure({ source: 'input', kind: 'invalid', code: 'invalid_connection_id', message });
  }
}
