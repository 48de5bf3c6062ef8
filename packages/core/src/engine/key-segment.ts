import { percentEncode } from '../schema/identity.js';
import type { CompiledSchema } from '../schema/types.js';

/**
 * The names the app's own keys take right under its root (`{root}:{word}…`): the tag values and
 * clock, the boot marker and tick, the L3 claim, the change relay, the write-behind stream and its
 * consumer group, the log bus. A table's base must never be one of them: a table `tag` had the
 * base `{root}:tag`, so its generation `{root}:tag:gen` was the value of the tag `gen`.
 */
const APP_WORDS = new Set([
  'tag',
  'tagclock',
  'boot',
  'tick',
  'l3',
  'changes',
  'writes',
  'flushers',
  'invalidate',
]);

/**
 * `%`, `:` and `.` of a name, percent-encoded: `:` separates a key's parts and `.` the Postgres
 * schema from the table, so an unqualified table `"a.b"` or `"a:b"` keeps apart from `a.b` and
 * from table `a`'s keys. Ordinary names (the usual identifiers) are left as they are.
 */
function escapePart(part: string): string {
  return percentEncode(part, /[%:.]/g);
}

/** A word of the app's own, its first letter percent-encoded (`tag` -> `%74ag`); else as it is. */
function awayFromAppWords(segment: string): string {
  if (!APP_WORDS.has(segment)) return segment;
  return `%${segment.charCodeAt(0).toString(16).toUpperCase()}${segment.slice(1)}`;
}

/**
 * A schema's part of its L2 keys, `{root}:{segment}:…`: its `l2.keyPrefix` when it has one (which
 * may only hold `[A-Za-z0-9_.-]`), else its qualified table, each part escaped. One-to-one:
 * distinct tables get distinct segments, and none is one of the app's own words, so no key of a
 * table is a key of another table, of a tag or of the app. Every `%` of a segment starts an escape,
 * so the encoding is undone unambiguously. Names of the usual identifier characters keep the
 * segment they always had (`shop.players`): only names that could clash moved (docs/semantics.md).
 * @example keySegment(defineSchema({ table: pgTable('tag', …) })); // '%74ag'
 */
export function keySegment(schema: CompiledSchema): string {
  const named = (schema.l2 || undefined)?.keyPrefix;
  if (named) return awayFromAppWords(named);
  const table = escapePart(schema.tableName);
  return schema.pgSchema === undefined ? awayFromAppWords(table) : `${escapePart(schema.pgSchema)}.${table}`;
}
