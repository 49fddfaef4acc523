/**
 * The construct's side of the settings table (`SETTINGS` in functions/commons/settings.ts):
 * each entry with a `prop` gives that prop its default, its check and the variable it sets, so a new
 * setting needs no edit here. The props interface stays hand-written, for its JSDoc in users'
 * editors; `PropsMatchTable` below makes the compiler hold it to the table.
 */
import { Duration, Token } from 'aws-cdk-lib';
import * as z from 'zod';
import { defaultOf, rangeOf, SETTING_NAMES, SETTINGS, type SettingName, type SettingSpec, type SettingUnit } from '#commons/config';
import type { Checks } from '../validate.ts';
import type { NangoMetadataSyncProps } from './props.ts';

type Table = typeof SETTINGS;
/** The settings a deployer sets through a prop. */
export type PropSetting = { [K in SettingName]: Table[K] extends { prop: string } ? K : never }[SettingName];
type PropOf<K extends PropSetting> = Table[K]['prop'];
type UnitOf<K extends PropSetting> = Table[K]['unit'];
/** The groups of props a setting may sit in (`apply.maxDefer`); no prefix is a top-level prop. */
export type Group = 'route' | 'apply' | 'webhook' | 'reconcile';

/** The type a prop of this unit takes. */
type PropType<K extends PropSetting> =
  UnitOf<K> extends 'seconds' | 'milliseconds'
    ? Duration
    : UnitOf<K> extends 'seconds or false'
      ? Duration | false
      : UnitOf<K> extends 'count'
        ? number
        : UnitOf<K> extends 'flag'
          ? boolean
          : NonNullable<z.output<Table[K]['schema']>>;

type At<T, P extends string> = P extends `${infer H}.${infer R}`
  ? H extends keyof T
    ? At<NonNullable<T[H]>, R>
    : never
  : P extends keyof T
    ? T[P]
    : never;

/** Settings whose prop is missing from the interface or has another type than its unit says. */
type Mismatched = {
  [K in PropSetting]: [NonNullable<At<NangoMetadataSyncProps, PropOf<K>>>] extends [PropType<K>]
    ? [PropType<K>] extends [NonNullable<At<NangoMetadataSyncProps, PropOf<K>>>]
      ? never
      : K
    : K;
}[PropSetting];
/** Fails to compile, naming the setting, when NangoMetadataSyncProps and SETTINGS disagree. */
export const PropsMatchTable: [Mismatched] extends [never] ? true : { propOfTheseSettingsDisagrees: Mismatched } = true;

/** The prop of `K` without its group. */
type KeyIn<K extends PropSetting, G extends Group | ''> = G extends ''
  ? PropOf<K> extends `${string}.${string}`
    ? never
    : PropOf<K>
  : PropOf<K> extends `${G}.${infer P}`
    ? P
    : never;
type HasDefault<K extends SettingName> = Table[K]['schema'] extends z.ZodDefault ? true : false;
/** The defaults of one group's setting props: those with a default are always there. */
export type SettingDefaults<G extends Group | ''> = {
  readonly [K in PropSetting as HasDefault<K> extends true ? KeyIn<K, G> : never]: PropType<K>;
} & { readonly [K in PropSetting as HasDefault<K> extends true ? never : KeyIn<K, G>]?: PropType<K> };

const PROP_SETTINGS = SETTING_NAMES.filter((n): n is PropSetting => 'prop' in SETTINGS[n]);
const spec = (n: PropSetting) => SETTINGS[n] as { prop: string; unit: SettingUnit; context: string; doc: string };
const groupOf = (prop: string): [group: string, key: string] => {
  const dot = prop.indexOf('.');
  return dot < 0 ? ['', prop] : [prop.slice(0, dot), prop.slice(dot + 1)];
};

/** A variable's value as its prop holds it: a Duration for time, a number, a boolean or a string. */
function toProp(unit: SettingUnit, value: unknown): unknown {
  if (value === undefined) return undefined;
  switch (unit) {
    case 'seconds':
    case 'seconds or false':
      return Duration.seconds(Number(value));
    case 'milliseconds':
      return Duration.millis(Number(value));
    case 'count':
      return Number(value);
    case 'flag':
      return value === true || value === 'true';
    default:
      return value;
  }
}

/** The defaults of the setting props in `group` ('' for top-level props), from the schemas. */
export function settingDefaults<G extends Group | ''>(group: G): SettingDefaults<G> {
  const out: Record<string, unknown> = {};
  for (const n of PROP_SETTINGS) {
    const [g, key] = groupOf(spec(n).prop);
    const value = toProp(spec(n).unit, SETTINGS[n].schema.safeParse(undefined).data);
    if (g === group && value !== undefined) out[key] = value;
  }
  return out as SettingDefaults<G>;
}

/** The top-level setting props, each given or else its default. */
export function topLevelSettings(props: NangoMetadataSyncProps): SettingDefaults<''> {
  const out: Record<string, unknown> = { ...settingDefaults('') };
  for (const n of PROP_SETTINGS) {
    const [g, key] = groupOf(spec(n).prop);
    const given = (props as unknown as Record<string, unknown>)[key];
    if (g === '' && given !== undefined) out[key] = given;
  }
  return out as SettingDefaults<''>;
}

/** The value at `prop` in resolved props (same paths as the props). */
function valueAt(resolved: object, prop: string): unknown {
  const [g, key] = groupOf(prop);
  const holder = (g ? (resolved as Record<string, unknown>)[g] : resolved) as Record<string, unknown> | undefined;
  return holder?.[key];
}

/** The variable's text for a prop's value; `false` (a feature turned off) keeps the default. */
function toVariable(n: PropSetting, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  switch (spec(n).unit) {
    case 'seconds':
      return String((value as Duration).toSeconds());
    case 'seconds or false':
      return String(value === false ? defaultOf(n) : (value as Duration).toSeconds());
    case 'milliseconds':
      return String((value as Duration).toMilliseconds());
    default:
      return String(value);
  }
}

/** Every prop-backed variable with its value from the resolved props; functionEnvironment picks each function's. */
export function settingVariables(resolved: object): Partial<Record<PropSetting, string>> {
  const out: Partial<Record<PropSetting, string>> = {};
  for (const n of PROP_SETTINGS) {
    const v = toVariable(n, valueAt(resolved, spec(n).prop));
    if (v !== undefined) out[n] = v;
  }
  return out;
}

/**
 * Checks every setting prop against the very schema its function parses it with: a time prop must be
 * whole seconds in the schema's range, anything else must pass the schema. Props in `own` are checked
 * by the caller instead (a URL without credentials, a message that names the choices).
 */
export function checkSettingProps(c: Checks, resolved: object, own: ReadonlySet<string>): void {
  for (const n of PROP_SETTINGS) {
    const { prop, unit } = spec(n);
    const value = valueAt(resolved, prop);
    if (own.has(prop) || value === undefined || value === false) continue;
    if (unit === 'seconds' || unit === 'seconds or false') {
      const [min, max] = rangeOf(n as Parameters<typeof rangeOf>[0]);
      c.seconds(prop, value as Duration, (SETTINGS[n] as SettingSpec).propMin ?? min, max);
      continue;
    }
    if (value instanceof Duration ? value.isUnresolved() : Token.isUnresolved(value)) continue;
    const text = toVariable(n, value)!;
    const parsed = SETTINGS[n].schema.safeParse(text);
    if (!parsed.success) c.fail(`${prop} (${n}) is invalid: ${parsed.error.issues[0]?.message ?? 'rejected'} (got ${text})`);
  }
}
