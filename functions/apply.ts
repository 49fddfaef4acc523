// The sample app's apply function: the library's factory over the sample catalog (events/catalog.ts).
import { catalog } from '#events/catalog';
import { createApplyHandler } from '#commons/runtime';

export const handler = createApplyHandler({ catalog });
