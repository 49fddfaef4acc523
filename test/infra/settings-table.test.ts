/**
 * Every setting with a construct prop, read from the settings table: its prop reaches the variable of
 * each function that reads it, a value outside the schema's range is refused naming the prop, and its
 * context key sets the prop. A setting added to the table is covered here without a new line.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as z from 'zod';
import { catalog as samples } from '../../events/catalog.ts';
import {
  FUNCTION_SETTINGS,
  FUNCTIONS,
  SETTING_NAMES,
  SETTINGS,
  type SettingName,
  type SettingUnit,
} from '../../functions/commons/config.ts';
import { readConfig } from '../../infra/config.ts';
import { NangoMetadataSync, type NangoMetadataSyncProps, resolveProps } from '../../infra/construct/index.ts';
import { PropsError } from '../../infra/validate.ts';
import { newApp, SAMPLE_CATALOG } from './helpers.ts';

interface Row {
  name: SettingName;
  prop: string;
  unit: SettingUnit;
  context: string;
  /** A value in range other than the default, as the variable holds it; undefined when none is derived. */
  other?: string;
  /** Just above the schema's maximum, for numbers. */
  over?: number;
}

const rows: Row[] = SETTING_NAMES.flatMap((name) => {
  const s = SETTINGS[name] as { schema: z.ZodType; prop?: string; unit?: SettingUnit; context?: string };
  if (!s.prop || !s.unit || !s.context) return [];
  const row: Row = { name, prop: s.prop, unit: s.unit, context: s.context };
  const def = s.schema.safeParse(undefined).data;
  const inner = s.schema instanceof z.ZodDefault ? s.schema.unwrap() : s.schema;
  if (inner instanceof z.ZodNumber) {
    const [min, max] = [inner.minValue ?? 0, inner.maxValue ?? Number.MAX_SAFE_INTEGER];
    row.other = String(Number(def) === min ? max : min);
    row.over = max + 1;
  } else if (inner instanceof z.ZodEnum) {
    row.other = (inner.options as string[]).find((o) => o !== def);
  }
  return [row];
});

/** The prop value for a variable's text, in the prop's unit. */
function propValue(unit: SettingUnit, text: string): unknown {
  if (unit === 'seconds' || unit === 'seconds or false') return Duration.seconds(Number(text));
  if (unit === 'milliseconds') return Duration.millis(Number(text));
  if (unit === 'count') return Number(text);
  if (unit === 'flag') return text === 'true';
  return text;
}

function withProp(props: Record<string, any>, path: string, value: unknown): Record<string, any> {
  const [group, key] = path.includes('.') ? path.split('.') : ['', path];
  if (!group) return { ...props, [path]: value };
  return { ...props, [group]: { ...props[group], [key!]: value } };
}

const changed = rows.filter((r) => r.other !== undefined);
let template: Template;

beforeAll(() => {
  const props = changed.reduce((p, r) => withProp(p, r.prop, propValue(r.unit, r.other!)), {} as Record<string, any>);
  const stack = new Stack(newApp(), 'T');
  new NangoMetadataSync(stack, 'Sync', { ...(props as Partial<NangoMetadataSyncProps>), catalog: SAMPLE_CATALOG });
  template = Template.fromStack(stack);
});

describe('the settings table drives the construct', () => {
  it('covers the numeric and choice settings, and the table has some', () => {
    expect(changed.map((r) => r.name)).toEqual(expect.arrayContaining(['APPLY_MAX_DEFER_SECONDS', 'NANGO_ENDPOINT', 'NANGO_TIMEOUT_MS']));
  });

  it('each prop reaches the variable of every function that reads it', () => {
    const fns = Object.values(template.findResources('AWS::Lambda::Function')) as { Properties: any }[];
    for (const fn of FUNCTIONS) {
      const env = fns.find((f) => f.Properties.Description && f.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME && matches(f, fn))!
        .Properties.Environment.Variables as Record<string, unknown>;
      for (const r of changed.filter((x) => (FUNCTION_SETTINGS[fn] as readonly string[]).includes(x.name))) {
        expect(env[r.name], `${fn} ${r.name} from ${r.prop}`).toBe(r.other);
      }
    }
  });

  it.each(rows.filter((r) => r.over !== undefined))('$prop above its range is refused, naming the prop', (r) => {
    let problems: string[] = [];
    try {
      resolveProps(withProp({ catalog: SAMPLE_CATALOG }, r.prop, propValue(r.unit, String(r.over))) as NangoMetadataSyncProps, samples);
    } catch (e) {
      if (!(e instanceof PropsError)) throw e;
      problems = e.problems;
    }
    expect(
      problems.some((p) => p.startsWith(r.prop)),
      problems.join('\n'),
    ).toBe(true);
  });

  it.each(changed)('-c $context sets $prop', (r) => {
    const sync = readConfig((k) => (k === r.context ? r.other : undefined), {}).props.sync as Record<string, any>;
    const [group, key] = r.prop.includes('.') ? r.prop.split('.') : ['', r.prop];
    const got = group ? sync[group!]?.[key!] : sync[r.prop];
    const want = propValue(r.unit, r.other!);
    if (want instanceof Duration) expect((got as Duration).toMilliseconds()).toBe(want.toMilliseconds());
    else expect(got).toEqual(want);
  });
});

/** Functions are told apart by the role they assume (Route, Apply, ...). */
function matches(f: { Properties: any }, fn: string): boolean {
  const role = JSON.stringify(f.Properties.Role);
  return role.includes(`Sync${fn[0]!.toUpperCase()}${fn.slice(1)}Role`);
}
