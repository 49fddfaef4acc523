import * as z from 'zod';
import { defineEvent } from './define.ts';
import { tagValueSchema } from './ids.ts';

/** Billing changed a customer's plan: the plan drives feature gates in the CRM integrations' scripts. */
export const customerPlanChanged = defineEvent({
  source: 'app.billing',
  detailType: 'customer.plan_changed',
  description: "A customer's subscription plan changed.",
  detail: z.object({
    organizationId: tagValueSchema,
    plan: z.enum(['free', 'starter', 'pro', 'enterprise']),
    previousPlan: z.string().optional(),
    changedAt: z.iso.datetime({ offset: true }),
  }),
  subject: {
    by: 'tags',
    tagKeys: ['organization_id'],
    tags: (d) => ({ organization_id: d.organizationId }),
    integrations: ['salesforce', 'hubspot'],
  },
  keys: ['plan', 'planChangedAt'],
  patch: (d) => ({ plan: d.plan, planChangedAt: d.changedAt }),
  // Billing stamps changes to the millisecond: two changes in one second still order.
  version: (d) => Date.parse(d.changedAt),
});
