import * as z from 'zod';
import { defineEvent } from './define.ts';
import { connectionIdSchema } from './ids.ts';

/** Suspended or churned customers must stop syncing: scripts read `active` before each run. */
export const customerStatusChanged = defineEvent({
  source: 'app.accounts',
  detailType: 'customer.status_changed',
  description: 'A customer was activated, suspended or churned.',
  detail: z.object({
    customerId: connectionIdSchema,
    status: z.enum(['active', 'suspended', 'churned']),
    reason: z.string().max(500).optional(),
    changedAt: z.iso.datetime({ offset: true }),
  }),
  targets: (d) => ({ connectionId: d.customerId, integrations: 'all' }),
  patch: (d) => ({ status: d.status, active: d.status === 'active', statusReason: d.reason ?? null }),
});
