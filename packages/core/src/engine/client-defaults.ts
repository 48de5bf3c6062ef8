import { is, SQL } from 'drizzle-orm';
import type { Row } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';

/**
 * Write-behind rows reach L1 and L2 before Postgres has seen them, so Postgres defaults are not
 * there yet. Fill what can be known here: `$defaultFn`, `$onUpdate`, literal defaults, and
 * `defaultNow()` (as the instance's clock). Other SQL defaults appear only after the flush. With
 * `update` (a partial row over a row that exists: see `partial-rows.ts`) only `$onUpdate`, as
 * Postgres would apply an upsert of the row: the other defaults are for new rows.
 */
export function applyClientDefaults(schema: CompiledSchema, row: Row, now: Date, update = false): Row {
  const out: Row = { ...row };
  for (const { key, column, kind } of schema.columns) {
    const c = column as unknown as {
      defaultFn?: () => unknown;
      onUpdateFn?: () => unknown;
      default?: unknown;
    };
    if (c.onUpdateFn && out[key] === undefined) {
      out[key] = c.onUpdateFn();
      continue;
    }
    if (update || out[key] !== undefined) continue;
    if (c.defaultFn) out[key] = c.defaultFn();
    else if (c.default !== undefined && !is(c.default, SQL)) out[key] = c.default;
    else if (c.default !== undefined && kind === 'date') out[key] = now;
  }
  return out;
}
