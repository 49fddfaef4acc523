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
    changedAt: z.iso.datetime({ offset: true }),
  }),
  subject: { by: 'tags', tagKeys: ['organization_id'], tags: (d) => ({ organization_id: d.organizationId }), integrations: 'all' },
  keys: ['status', 'active', 'statusReason'],
  patch: (d) => ({ status: d.status, active: d.status === 'active', statusReason: d.reason ?? null }),
  // The account service stamps changes to the millisecond: a suspension and a reactivation in one
  // second keep their order (EventBridge's `time` has whole seconds, which would leave it to the event ids).
  version: (d) => Date.parse(d.changedAt),
});
