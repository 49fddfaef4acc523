// The sample app's route function: the library's factory over the sample catalog (events/catalog.ts).
import { catalog } from '#events/catalog';
import { createRouteHandler } from '#commons/runtime';

export const handler = createRouteHandler({ catalog });
