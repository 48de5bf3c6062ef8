import * as check from '../check/checks.js';
import { StrataError } from '../errors.js';
import { fitsUtf8 } from '../schema/text-limits.js';
import type { Invalidation } from './types.js';

/** At most this many ids in one message; a larger batch must be split or sent as `ids: null`. */
export const MAX_INVALIDATION_IDS = 10_000;
/** At most this many UTF-8 bytes per id. */
const MAX_INVALIDATION_ID_BYTES = 1_024;
/**
 * Raw text longer than this is dropped before `JSON.parse` runs, so a poison message costs no parse.
 * It is above the largest valid message (10,000 ids of 1 KiB, quoted) with room for escapes.
 */
const MAX_RAW_CHARS = 16 * 1024 * 1024;
const MAX_ORIGIN_CHARS = 256;
/** A keyPrefix is at most 64 characters (config.ts); more leaves room for a bucketed root. */
const MAX_APP_CHARS = 128;
/** `ticks` has one entry per bucket (see `L2Watch.told`); a Redis Cluster has 16,384 slots. */
const MAX_BUCKETS = 16_384;
/** Never produced by {@link encodeInvalidation}: a message carrying one was crafted, so it is refused. */
const POISON_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

// An identity: a qualified table, two identifiers of up to 63 bytes and a dot; 3 characters for
// each encoded byte (`%2E`, see tableIdentity) when a name holds `.`, `*` or `%`.
const schemaName = check.string(check.minLength(1), check.maxLength(3 * 63 * 2 + 1));
const op = check.oneOf(['set', 'delete', 'invalidate', 'invalidateAll', 'tags']);
const id = check.refine<string>(
  check.string(),
  fitsIdLimit,
  `an id is longer than ${MAX_INVALIDATION_ID_BYTES} bytes`,
);

// Unknown fields are stripped, not refused: a newer publisher adding one must not make older
// receivers drop invalidations (a dropped invalidation is a stale cache). `id` next to `ids` (or
// the reverse) is ambiguous, so each shape forbids the other's field.
const version = check.number(check.int, check.gte(0), check.lte(Number.MAX_SAFE_INTEGER));
const current = check.refine<Invalidation>(
  check.object({
    schema: schemaName,
    ids: check.nullable(check.array(id, check.maxLength(MAX_INVALIDATION_IDS))),
    versions: check.optional(check.array(version, check.maxLength(MAX_INVALIDATION_IDS))),
    op,
    origin: check.string(check.maxLength(MAX_ORIGIN_CHARS)),
    app: check.optional(check.string(check.minLength(1), check.maxLength(MAX_APP_CHARS))),
    id: check.optional(check.never),
  }),
  (m) => m.versions === undefined || (m.ids !== null && m.versions.length === m.ids.length),
  'versions must match ids one for one',
);
/**
 * A `told()` entry: the boot marker (`b` + 18 hex, then `@` + the 40-hex server id where Redis has
 * one) and the tick (at most 16 digits): 77 characters. 96 leaves room, and still bounds a hostile one.
 */
const MAX_TICK_CHARS = 96;
const ticksCheck = check.array(check.string(check.maxLength(MAX_TICK_CHARS)), check.maxLength(MAX_BUCKETS));
/** The message of the Go library Strata: one id, no origin. */
const singleIdMessage = check.object({ schema: schemaName, id, op, ids: check.optional(check.never) });

/**
 * The wire form of an invalidation: JSON with exactly its fields (`versions` when given), whatever
 * else the object carries, `origin` first: its publisher drops its own echo by that prefix
 * ({@link ownPrefix}) without decoding it. Throws `ENCODE_FAILED` for a message receivers would drop
 * (an empty schema name, more than {@link MAX_INVALIDATION_IDS} ids, an id over 1 KiB): better a
 * failed publish the engine counts than one that silently invalidates nothing.
 *
 * @example
 * encodeInvalidation({ schema: 'users', ids: ['42'], op: 'set', origin: 'api-1', app: 'shop' });
 * // '{"origin":"api-1","app":"shop","schema":"users","ids":["42"],"op":"set"}'
 */
export function encodeInvalidation(inv: Invalidation): string {
  const wire = {
    origin: inv.origin,
    ...(inv.app !== undefined && { app: inv.app }),
    schema: inv.schema,
    ids: inv.ids,
    ...(inv.versions && { versions: inv.versions }),
    op: inv.op,
    ...(inv.ticks && { ticks: inv.ticks }),
    ...(inv.restored && { restored: true }),
    ...(inv.ask && { ask: true }),
  };
  const issue = current(wire, []);
  if (issue) {
    throw new StrataError('ENCODE_FAILED', `invalid invalidation message: ${issue.message}`, {
      details: { schema: inv.schema, path: issue.path.join('.') },
    });
  }
  return JSON.stringify(wire);
}

/**
 * Validates a message from the bus: JSON text (or a value already parsed from it), in the current
 * shape or the Go library Strata's `{"schema","id","op"}` (read as `ids: [id]`, `origin: ''`; `ids: null` for
 * `invalidateAll`). Anything else gives `undefined`, never a throw: the caller counts it as dropped.
 *
 * @example
 * decodeInvalidation('{"schema":"players","id":"p1","op":"set"}');
 * // { schema: 'players', ids: ['p1'], op: 'set', origin: '' }
 * decodeInvalidation('not json'); // undefined
 */
export function decodeInvalidation(raw: unknown): Invalidation | undefined {
  const value = typeof raw === 'string' ? parseJson(raw) : raw;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  if (POISON_KEYS.some((key) => Object.hasOwn(value, key))) return undefined;
  if (current(value, []) === undefined) {
    // Copies of the arrays, so the result does not alias the caller's message.
    const { schema, ids: given, versions, op, origin, app, ticks, restored, ask } = value as Invalidation;
    const ids = given && [...given];
    const inv: Invalidation = versions
      ? { schema, ids, versions: [...versions], op, origin }
      : { schema, ids, op, origin };
    if (app !== undefined) inv.app = app;
    // A floor only (never needed to drop a copy): malformed, it is left out, not the message.
    if (ticksCheck(ticks, []) === undefined && ticks) inv.ticks = [...ticks];
    // An answer to a reset (see `ResetSettle`): anything but `true` is no answer.
    if (restored === true) inv.restored = true;
    if (ask === true) inv.ask = true;
    return inv;
  }
  if (singleIdMessage(value, []) !== undefined) return undefined;
  const { schema, id, op } = value as { schema: string; id: string; op: Invalidation['op'] };
  return { schema, ids: op === 'invalidateAll' ? null : [id], op, origin: '' };
}

/**
 * How every message `origin` publishes begins on the wire (as {@link encodeInvalidation} and a
 * write script's `ScriptedPublish` write it): `{"origin":<origin as JSON>,`. Raw text that starts
 * with it names that origin: `"origin":` is a key there (a quote inside a JSON string is escaped),
 * and the closing quote and comma end the origin, so `api-1` never matches `api-10`'s messages.
 *
 * @example
 * ownPrefix('api-1'); // '{"origin":"api-1",'
 */
export function ownPrefix(origin: string): string {
  return `{"origin":${JSON.stringify(origin)},`;
}

function parseJson(raw: string): unknown {
  if (raw.length > MAX_RAW_CHARS) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

/** At most 1 KiB as UTF-8 (a lone surrogate counts 3, as TextEncoder's U+FFFD). */
function fitsIdLimit(s: string): boolean {
  return fitsUtf8(s, MAX_INVALIDATION_ID_BYTES);
}
