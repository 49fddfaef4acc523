import * as z from 'zod';
import { defineEvent } from './define.ts';
import { connectionIdSchema } from './ids.ts';

/** Billing changed a customer's plan: the plan drives feature gates in every integration's scripts. */
export const customerPlanChanged = defineEvent({
  source: 'app.billing',
  detailType: 'customer.plan_changed',
  description: "A customer's subscription plan changed.",
  detail: z.object({
    customerId: connectionIdSchema,
    plan: z.enum(['free', 'starter', 'pro', 'enterprise']),
    previousPlan: z.string().optional(),
    changedAt: z.iso.datetime({ offset: true }),
  }),
  targets: (d) => ({ connectionId: d.customerId, integrations: ['salesforce', 'hubspot'] }),
  patch: (d) => ({ plan: d.plan, planChangedAt: d.changedAt }),
});
