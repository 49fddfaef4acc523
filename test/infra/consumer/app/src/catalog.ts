// A user's catalog: one event type addressed by tags, one by connection id. None of the samples.
import { z } from 'zod';
import { defineEvent } from 'nango-metadata-sync';

export const orderShipped = defineEvent({
  source: 'acme.shop',
  detailType: 'order.shipped',
  description: 'An order left the warehouse.',
  detail: z.object({ organizationId: z.string().min(1), orderId: z.string().min(1), shippedAt: z.iso.datetime() }),
  subject: { by: 'tags', tagKeys: ['organization_id'], tags: (d) => ({ organization_id: d.organizationId }), integrations: 'all' },
  keys: ['lastShippedOrder'],
  patch: (d) => ({ lastShippedOrder: d.orderId }),
  version: (d) => Date.parse(d.shippedAt),
});

export const storeRenamed = defineEvent({
  source: 'acme.shop',
  detailType: 'store.renamed',
  description: "A store's display name changed.",
  detail: z.object({ storeId: z.string().min(1), name: z.string().min(1).max(200), revision: z.number().int().min(0) }),
  subject: { by: 'connectionId', connectionId: (d) => d.storeId, integrations: ['shopify'] },
  keys: ['storeName'],
  patch: (d) => ({ storeName: d.name }),
  version: (d) => d.revision,
  versionKind: 'sequence',
  maxVersion: 1_000_000,
});

export const catalog = [orderShipped, storeRenamed];
