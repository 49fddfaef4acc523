// The sample app's reconcile function: the library's factory over the sample catalog (events/catalog.ts).
import { catalog } from '#events/catalog';
import { createReconcileHandler } from '#commons/runtime';

export const handler = createReconcileHandler({ catalog });
