import type { PgColumn } from 'drizzle-orm/pg-core';
import { schemaError } from '../errors.js';
import type { Row } from '../l3/types.js';
import { type DateTimeForm, dateTimeFormOf } from '../schema/datetime-form.js';
import { type StoredForm, storedFormOf } from '../schema/stored-form.js';
import type { CompiledSchema, WriteMode } from '../schema/types.js';

/** Per schema: its columns' stored forms, and the checks of its session-dependent date/time text. */
interface Forms {
  readonly stored: readonly (readonly [string, StoredForm])[];
  readonly dateTimes: readonly (readonly [string, DateTimeForm, string])[];
}

const forms = new WeakMap<CompiledSchema, Forms>();

function formsOf(schema: CompiledSchema): Forms {
  let found = forms.get(schema);
  if (!found) {
    const stored: [string, StoredForm][] = [];
    const dateTimes: [string, DateTimeForm, string][] = [];
    for (const c of schema.columns) {
      const form = storedFormOf(c.column);
      if (form) stored.push([c.key, form]);
      const base = (c.column as { baseColumn?: PgColumn }).baseColumn;
      const dateTime = dateTimeFormOf(base ?? c.column);
      if (dateTime) dateTimes.push([c.key, ...dateTime]);
    }
    found = { stored, dateTimes };
    forms.set(schema, found);
  }
  return found;
}

/**
 * `row` (a checked copy of the caller's) as Postgres will store it, before any tier takes it: each
 * value in the form Postgres answers (see stored-form.ts), so every tier, before a write-behind
 * flush as after it, answers what a read from Postgres does. A write-behind row's date/time text is
 * put in Postgres' own text, or refused with VALIDATION_FAILED where Strata cannot tell that text
 * (see datetime-form.ts); write-through rows take Postgres' own text from the write's RETURNING.
 */
export function toStoredRow(schema: CompiledSchema, writeMode: WriteMode, row: Row): void {
  const { stored, dateTimes } = formsOf(schema);
  for (const [key, form] of stored) {
    const value = row[key];
    if (value === null || value === undefined) continue;
    const after = form(value);
    // timestamp(0) rounds 9999-12-31 23:59:59.5 up to year 10000, which Drizzle sends as
    // '+010000-…' and Postgres refuses (22009): refused here, as whyNotIsoYear refuses it written so.
    if (after instanceof Date && after.getUTCFullYear() > 9999)
      throw schemaError(
        'VALIDATION_FAILED',
        schema.name,
        `field ${key}: rounds to year 10000, not 1 to 9999`,
        {
          details: { field: key },
        },
      );
    row[key] = after;
  }
  if (writeMode !== 'write-behind') return;
  for (const [key, form, why] of dateTimes) {
    const value = row[key];
    if (value == null) continue;
    const after = inForm(value, form);
    if (after === undefined)
      throw schemaError('VALIDATION_FAILED', schema.name, `field ${key}: ${why}`, {
        details: { field: key },
      });
    row[key] = after;
  }
}

/** The value, its text (an array's items' too) in Postgres' own form; undefined when one is refused. */
function inForm(value: unknown, form: DateTimeForm): unknown {
  if (typeof value === 'string') return form(value);
  if (!Array.isArray(value)) return value;
  const items = value.map((v) => (v == null ? v : inForm(v, form)));
  return items.some((v, i) => v === undefined && value[i] != null) ? undefined : items;
}
