/**
 * The sample catalog: the event types of the repository's own app (infra/app.ts), of `npm start` and
 * of the tests. A deployment's catalog is its own module of the same shape; the library never imports this one.
 */
import * as api from './define.ts';
import { customerPlanChanged } from './customer-plan-changed.ts';
import { customerSeatsChanged } from './customer-seats-changed.ts';
import { customerStatusChanged } from './customer-status-changed.ts';
import { customerSettingsChanged } from './customer-settings-changed.ts';

export const catalog: api.Catalog = api.defineCatalog([
  customerPlanChanged,
  customerSeatsChanged,
  customerStatusChanged,
  customerSettingsChanged,
] as api.Catalog);

export type Catalog = api.Catalog;
export const indexCatalog = api.indexCatalog;
export const defineCatalog = api.defineCatalog;

// The catalog API's derivations, defaulting to the samples (tests and tools of this repository).
export const subjectTagKeySets = (entries: Catalog = catalog): string[][] => api.subjectTagKeySets(entries);
export const usesConnectionIdSubjects = (entries: Catalog = catalog): boolean => api.usesConnectionIdSubjects(entries);
export const subjectRules = (entries: Catalog = catalog): { tagKeySets: string[][]; byConnectionId: boolean } => api.subjectRules(entries);
