import * as z from 'zod';
import { defineEvent } from './define.ts';
import { connectionIdSchema, providerConfigKeySchema } from './ids.ts';

/**
 * Data residency: scripts pick the regional endpoint and feature flags from metadata. Addressed by
 * connection id (connections whose id is the customer id), the scheme of apps that create
 * connections with their own ids.
 */
export const customerSettingsChanged = defineEvent({
  source: 'app.accounts',
  detailType: 'customer.settings_changed',
  description: "A customer's region or feature flags changed.",
  detail: z
    .object({
      customerId: connectionIdSchema,
      region: z.enum(['us', 'eu', 'ap']).optional(),
      flags: z.record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,63}$/), z.boolean()).optional(),
      // Bounded here; the deployment's cap (MAX_INTEGRATIONS_PER_EVENT) may be lower.
      integrations: z.array(providerConfigKeySchema).min(1).max(100).optional(),
      sequence: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    })
    .refine((d) => d.region !== undefined || d.flags !== undefined, { message: 'region or flags is required' }),
  subject: { by: 'connectionId', connectionId: (d) => d.customerId, integrations: (d) => d.integrations ?? 'all' },
  // Flags are one nested object: Nango replaces nested objects whole, so the event carries the full set.
  keys: ['region', 'flags'],
  patch: (d) => ({
    ...(d.region !== undefined ? { region: d.region } : {}),
    ...(d.flags !== undefined ? { flags: d.flags } : {}),
  }),
  // The settings service numbers its changes: the order holds whatever the clocks say.
  version: (d) => d.sequence,
  versionKind: 'sequence',
  // A counter has no clock to bound it: a number past this is refused, so one bad value cannot lock
  // the keys for good (a million changes a day for over two thousand years fit below it).
  maxVersion: 1_000_000_000_000,
});
