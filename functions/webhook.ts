// The sample app's webhook function: the library's factory over the sample catalog (events/catalog.ts).
import { catalog } from '#events/catalog';
import { createWebhookHandler } from '#commons/runtime';

export const handler = createWebhookHandler({ catalog });
