import * as z from 'zod';
import { defineEvent } from './define.ts';
import { connectionIdSchema } from './ids.ts';

/** Data residency: scripts pick the regional endpoint and feature flags from metadata. */
export const customerSettingsChanged = defineEvent({
  source: 'app.accounts',
  detailType: 'customer.settings_changed',
  description: "A customer's region or feature flags changed.",
  detail: z
    .object({
      customerId: connectionIdSchema,
      region: z.enum(['us', 'eu', 'ap']).optional(),
      flags: z.record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,63}$/), z.boolean()).optional(),
      integrations: z.array(z.string().min(1)).min(1).optional(),
    })
    .refine((d) => d.region !== undefined || d.flags !== undefined, { message: 'region or flags is required' }),
  targets: (d) => ({ connectionId: d.customerId, integrations: d.integrations ?? 'all' }),
  // Flags are one nested object: Nango replaces nested objects whole, so the event carries the full set.
  patch: (d) => ({
    ...(d.region !== undefined ? { region: d.region } : {}),
    ...(d.flags !== undefined ? { flags: d.flags } : {}),
  }),
});
