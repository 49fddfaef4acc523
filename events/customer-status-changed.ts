import * as z from 'zod';
import { defineEvent } from './define.ts';
import { tagValueSchema } from './ids.ts';

/** Suspended or churned customers must stop syncing: scripts read `active` before each run. */
export const customerStatusChanged = defineEvent({
  source: 'app.accounts',
  detailType: 'customer.status_changed',
  description: 'A customer was activated, suspended or churned.',
  detail: z.object({
    organizationId: tagValueSchema,
    status: z.enum(['active', 'suspended', 'churned']),
    reason: z.string().max(500).optional(),
  }),
  // No version: the event's own time orders these writes (ties broken by event id).
  subject: { by: 'tags', tagKeys: ['organization_id'], tags: (d) => ({ organization_id: d.organizationId }), integrations: 'all' },
  patch: (d) => ({ status: d.status, active: d.status === 'active', statusReason: d.reason ?? null }),
});
