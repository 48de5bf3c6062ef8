import type { ColumnKind, ColumnKinds } from './types.js';

/**
 * The array layout of the JSON codec: a row that has every column of its `kinds`, in their order
 * (the schema's), none undefined, is stored as the array of its values (`["p1","Ann",1700000000000]`)
 * instead of an object: no column name is written or parsed per row. Any other row is an object in
 * an array of one (json-codec.ts `wrapped`). NOT shape-safe: another shape of the table (a rolling
 * deploy) decodes such a row by its own columns' positions (see docs/src/performance.md, the
 * sixteenth pass).
 */
export interface JsonLayout {
  readonly fields: readonly string[];
  /** Per field, the kind a decode revives (date, bigint, bytes), else undefined. */
  readonly revive: readonly (RevivedKind | undefined)[];
  /** Per field, its declared kind. */
  readonly kinds: readonly ColumnKind[];
  /** False for fewer than two columns (`[x]` is the wrapped form) or a column named `__proto__`. */
  readonly array: boolean;
}

export type RevivedKind = 'date' | 'bigint' | 'bytes';

const layouts = new WeakMap<ColumnKinds, JsonLayout>();
let lastKinds: ColumnKinds | undefined;
let lastLayout: JsonLayout | undefined;

/** The layout of `kinds`, made once per `kinds` object (it is read-only: ColumnKinds). */
export function layoutOf(kinds: ColumnKinds): JsonLayout {
  if (kinds === lastKinds) return lastLayout!;
  let layout = layouts.get(kinds);
  if (layout === undefined) {
    const fields = Object.keys(kinds);
    const declared = fields.map((field) => kinds[field]!);
    layout = {
      fields,
      kinds: declared,
      revive: declared.map((kind) =>
        kind === 'date' || kind === 'bigint' || kind === 'bytes' ? kind : undefined,
      ),
      array: fields.length > 1 && !fields.includes('__proto__'),
    };
    layouts.set(kinds, layout);
  }
  lastKinds = kinds;
  lastLayout = layout;
  return layout;
}

let lastKeys: readonly string[] | undefined;
let lastKeysLayout: JsonLayout | undefined;

/** Whether `keys` are exactly the layout's fields, in order. */
export function isLayoutOrder(keys: readonly string[], layout: JsonLayout): boolean {
  if (keys === lastKeys && layout === lastKeysLayout) return true;
  const { fields } = layout;
  if (!layout.array || keys.length !== fields.length) return false;
  for (let i = 0; i < keys.length; i++) if (keys[i] !== fields[i]) return false;
  lastKeys = keys;
  lastKeysLayout = layout;
  return true;
}
