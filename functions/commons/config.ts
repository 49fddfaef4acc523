/**
 * The functions' configuration, parsed from the settings table (settings.ts) once per cold start, so
 * a misconfigured deployment fails at init naming the variable: each function's schema holds
 * exactly the variables whose entry lists it in `readBy`.
 */
import * as z from 'zod';
import { FUNCTIONS, type FunctionName, SETTINGS } from './settings.ts';

export * from './settings.ts';

export type SettingName = keyof typeof SETTINGS;
/** Variable names as constants, so a typo is a compile error in the construct and in local/. */
export const ENV = Object.fromEntries(Object.keys(SETTINGS).map((k) => [k, k])) as { readonly [K in SettingName]: K };
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** The settings `fn` reads. */
export type ReadBy<F extends FunctionName> = {
  [K in SettingName]: F extends (typeof SETTINGS)[K]['readBy'][number] ? K : never;
}[SettingName];

/** Which variables each function reads (each entry's `readBy`): the construct sets exactly these. */
export const FUNCTION_SETTINGS = Object.fromEntries(
  FUNCTIONS.map((fn) => [fn, SETTING_NAMES.filter((n) => (SETTINGS[n].readBy as readonly string[]).includes(fn))]),
) as unknown as { readonly [F in FunctionName]: readonly ReadBy<F>[] };

type Shape<K extends SettingName> = { [P in K]: (typeof SETTINGS)[P]['schema'] };
const shapeOf = <F extends FunctionName>(fn: F) =>
  Object.fromEntries(FUNCTION_SETTINGS[fn].map((n) => [n, SETTINGS[n].schema])) as Shape<ReadBy<F>>;

const hasNangoKey = (c: { NANGO_SECRET_ID?: string | undefined; NANGO_SECRET_KEY?: string | undefined }) =>
  c.NANGO_SECRET_ID !== undefined || c.NANGO_SECRET_KEY !== undefined;
const nangoKeyMessage = { message: 'set NANGO_SECRET_ID (Secrets Manager name or ARN) or, for local runs, NANGO_SECRET_KEY' };

// Built on the first parse (`z.lazy`), at the first invocation: each function parses one of them once.
export const routeConfigSchema = z.lazy(() => z.object(shapeOf('route')).refine(hasNangoKey, nangoKeyMessage));
export const applyConfigSchema = z.lazy(() => z.object(shapeOf('apply')).refine(hasNangoKey, nangoKeyMessage));
export const reconcileConfigSchema = z.lazy(() => z.object(shapeOf('reconcile')).refine(hasNangoKey, nangoKeyMessage));
export const webhookConfigSchema = z.lazy(() =>
  z.object(shapeOf('webhook')).refine((c) => c.WEBHOOK_SECRET_ID !== undefined || c.WEBHOOK_SIGNING_KEY !== undefined, {
    message: "set WEBHOOK_SECRET_ID (the secret holding Nango's webhook signing key) or, for local runs, WEBHOOK_SIGNING_KEY",
  }),
);

export type RouteConfig = z.output<typeof routeConfigSchema>;
export type ApplyConfig = z.output<typeof applyConfigSchema>;
export type WebhookConfig = z.output<typeof webhookConfigSchema>;
export type ReconcileConfig = z.output<typeof reconcileConfigSchema>;
/** What every Nango-calling function shares. */
export type NangoConfig = Pick<RouteConfig, ReadBy<'route'> & ReadBy<'apply'> & ReadBy<'reconcile'>>;

type NumericSetting = {
  [K in SettingName]: (typeof SETTINGS)[K]['schema'] extends z.ZodDefault<z.ZodCoercedNumber> ? K : never;
}[SettingName];

/** A numeric setting's bounds, for the construct's own checks of the props behind it. */
export function rangeOf(name: NumericSetting): [min: number, max: number] {
  const n = (SETTINGS[name].schema as z.ZodDefault<z.ZodCoercedNumber>).unwrap();
  return [n.minValue ?? Number.NEGATIVE_INFINITY, n.maxValue ?? Number.POSITIVE_INFINITY];
}

/** A setting's default, for the construct and local/ (one source of truth). */
export function defaultOf<K extends SettingName>(name: K): z.output<(typeof SETTINGS)[K]['schema']> {
  return SETTINGS[name].schema.parse(undefined) as z.output<(typeof SETTINGS)[K]['schema']>;
}

export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
