import * as z from 'zod';
import { defineEvent } from './define.ts';
import { tagValueSchema } from './ids.ts';

/** Seats bound how many records a sync may pull; every integration of the customer needs the new figure. */
export const customerSeatsChanged = defineEvent({
  source: 'app.billing',
  detailType: 'customer.seats_changed',
  description: "A customer's licensed seat count changed.",
  detail: z.object({
    organizationId: tagValueSchema,
    seats: z.number().int().min(0).max(1_000_000),
    changedAt: z.iso.datetime({ offset: true }),
  }),
  subject: { by: 'tags', tagKeys: ['organization_id'], tags: (d) => ({ organization_id: d.organizationId }), integrations: 'all' },
  keys: ['seats', 'seatsChangedAt'],
  patch: (d) => ({ seats: d.seats, seatsChangedAt: d.changedAt }),
  version: (d) => Date.parse(d.changedAt),
});
