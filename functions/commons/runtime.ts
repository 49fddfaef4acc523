/**
 * The runtime: one handler factory per function, each given the deployment's catalog. The construct
 * bundles each function as an entry that calls one factory over the user's catalog module.
 */
export { type ApplyHandler, createApplyHandler } from './handlers/apply.ts';
export { createReconcileHandler, createSweepHandler, type ReconcileHandler } from './handlers/reconcile.ts';
export { createRouteHandler, type RouteHandler } from './handlers/route.ts';
export { createWebhookHandler, type WebhookHandler } from './handlers/webhook.ts';
export type { Catalog, EventDefinition } from '#events/define';
