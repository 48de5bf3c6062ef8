import { StrataError } from '../errors.js';
import { encodeEnvelope, isCurrent, remainingMs } from '../l2/envelope.js';
import type { Row } from '../l3/types.js';
import { codeAt, sliceFrom, startsAt } from '../strings.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import type { SchemaCache } from './schema-cache.js';
import type { Age } from './staleness.js';

/**
 * The L2 values of a schema's rows (see l2/envelope.ts), as `SchemaCache` writes and reads them: a
 * row's or an absence's envelope, a superseded marker, PUT's entries, and what a value read back
 * says (its owner and stamp checked, its age on Redis' clock).
 */

/** How far ahead of this instance's clock another's may stamp a fresh end and still be trusted. */
const CLOCK_SLACK_MS = 1_000;

/** PUT's entry: a version, the PX to keep it, the value. */
export type PutEntry = readonly [version: number, ttlMs: number, value: string];

/** What an L2 entry says about a key: a row, an absence, or nothing usable (a miss). */
export type L2Hit =
  | {
      row: Row;
      version: number;
      remainingMs: number;
      age?: Exclude<Age, 'fresh'>;
      /** A tagged schema's row: the tick it was read at (see `RowTags`); none for a pending row. */
      stamp?: number;
    }
  | { absent: true; version: number; remainingMs: number; age?: undefined };

/** The L2 string of a row or an absence at `version`, of `generation`, living `ttlMs` (0 = no expiry). */
function envelope(
  cache: SchemaCache,
  stored: Row | undefined,
  version: number,
  generation: number,
  ttlMs: number,
  stamp = 0,
): string {
  const expiresAt = ttlMs > 0 ? cache.l2Now() + ttlMs : 0;
  return encodeEnvelope({
    kind: stored ? 'r' : 'a',
    pending: false,
    version,
    generation,
    expiresAt,
    freshUntil: expiresAt,
    owner: stampedOwner(cache, stamp),
    payload: stored ? cache.rows.toL2(stored) : '',
  });
}

/**
 * PUT's entry of a row (or an absence) at `version`: Redis keeps a row past `ttlMs` by the windows
 * (see `holdMs`); a write's value (`floor`) at least `floorMs` (fresh for `ttlMs` all the same).
 */
export function putEntry(
  cache: SchemaCache,
  stored: Row | undefined,
  version: number,
  generation: number,
  ttlMs: number,
  stamp: number,
  floor = false,
): PutEntry {
  const px = stored ? cache.holdMs(ttlMs) : ttlMs;
  return [version, floor ? cache.keepMs(px) : px, envelope(cache, stored, version, generation, ttlMs, stamp)];
}

/**
 * A superseded marker (kind `x`, a miss for every reader) at `version`, as PUT's entry: it keeps
 * the version floor (no older fill lands under it) and leaves the row to Postgres.
 */
export function markerEntry(cache: SchemaCache, version: number, generation: number): PutEntry {
  const ttl = cache.tombstoneTtlMs();
  return [version, cache.keepMs(ttl), marker(cache, version, generation, cache.l2Now() + ttl)];
}

/** A superseded marker's value: kind `x`, no row, a miss for every reader until `expiresAt`. */
export function marker(cache: SchemaCache, version: number, generation: number, expiresAt: number): string {
  return encodeEnvelope({
    kind: 'x',
    pending: false,
    version,
    generation,
    expiresAt,
    freshUntil: expiresAt,
    owner: cache.owner,
    payload: '',
  });
}

/** The `owner` field of this schema's values: a tagged schema's carries the row's stamp too. */
export function stampedOwner(cache: SchemaCache, stamp: number): string {
  return cache.tags ? `${cache.owner}.${stamp}` : cache.owner;
}

/** The stamp in an `owner` field of this schema's (0 untagged), or -1 when another schema wrote it. */
export function stampOf(cache: SchemaCache, owner: string): number {
  return stampIn(cache, owner, 0, owner.length);
}

/** `stampOf` of the owner field at `from` up to `to` in `value`, read where it stands. */
function stampIn(cache: SchemaCache, value: string, from: number, to: number): number {
  const n = cache.owner.length;
  if (!cache.tags) return to - from === n && startsAt(value, cache.owner, from) ? 0 : -1;
  if (!startsAt(value, cache.owner, from) || from + n >= to || codeAt(value, from + n) !== 46) return -1;
  const stamp = Number(sliceFrom(value, from + n + 1, to));
  return Number.isSafeInteger(stamp) && stamp >= 0 ? stamp : -1;
}

/**
 * What an L2 value found under `key` says, or undefined when it is a miss: nothing there, another
 * format, a superseded marker (a change outside Strata: Postgres has newer), of a generation
 * before `generation` (invalidated), already expired, or written by
 * another schema or for another id (a mistaken key prefix must never serve someone else's row:
 * counted as an L2 error). `now`: a batch reads the clock once for all its entries.
 */
export function readL2(
  cache: SchemaCache,
  ctx: EngineContext,
  key: string,
  value: string | null,
  generation: number,
  now = cache.l2Now(),
): L2Hit | undefined {
  if (value === null) return undefined;
  // Read in place (no envelope object, no owner string): this runs once per key of every L2 read.
  const e = cache.header;
  if (!e.read(value) || e.kind === 'l' || e.kind === 'x' || !isCurrent(e, generation)) return undefined;
  const remaining = remainingMs(e, now);
  // A fresh end further ahead than the TTL was stamped by a clock ahead of this one: the row's
  // age is unknown, so it is a miss (Postgres answers; the fill stamps it again with this clock).
  // A clock ahead then costs reads, never rows answered past their fresh time.
  if (e.kind === 'r' && cache.l2TtlMs > 0 && remaining > cache.l2TtlMs + CLOCK_SLACK_MS) return undefined;
  // Past its fresh time: a miss, unless the schema's windows still keep a row (`age`).
  let age: Exclude<Age, 'fresh'> | undefined;
  if (remaining < 0) {
    if (e.kind !== 'r' || !cache.aging) return undefined;
    age = cache.aging.age(-remaining) as Exclude<Age, 'fresh'> | undefined;
    if (age === undefined) return undefined;
  }
  const stamp = stampIn(cache, value, e.ownerAt, e.payloadAt - 1);
  if (stamp < 0) return foreign(cache, ctx, key, 'another schema wrote it');
  if (e.kind === 'a') {
    // A cached absence has no row, so no tags: a tag moved since may be a row's written behind
    // Strata's back (SQL, then invalidateTags). A pending delete is the newest write: it stays.
    if (cache.tags && !e.pending && !cache.tags.clock.absenceHolds(stamp)) return undefined;
    return { absent: true, version: e.version, remainingMs: remaining };
  }
  // Every field of the header is taken before the decode (which may read another value with it).
  const { version, pending } = e;
  const row = cache.rows.fromL2(sliceFrom(value, e.payloadAt));
  if (idKey(row[cache.schema.primaryKey.key] as Id) !== key)
    return foreign(cache, ctx, key, 'it holds another id');
  const hit: L2Hit = age
    ? { row, version, remainingMs: remaining, age }
    : { row, version, remainingMs: remaining };
  // A pending write-behind row is the newest write, not a cached copy: no tag move drops it.
  if (cache.tags && !pending) hit.stamp = stamp;
  return hit;
}

/**
 * The version an L2 value of this schema holds in `generation` (a row, a tombstone, a superseded
 * marker: Postgres has that version), 0 for none: what a read waiting for a version sees (see
 * `ReplacedWaits`).
 */
export function heldIn(cache: SchemaCache, value: string | null, generation: number): number {
  const e = cache.header;
  if (value === null || !e.read(value) || e.kind === 'l' || !isCurrent(e, generation)) return 0;
  return stampIn(cache, value, e.ownerAt, e.payloadAt - 1) < 0 ? 0 : e.version;
}

/**
 * The version an L2 value of this schema carries whatever its kind or generation (0 for another
 * format or another schema's): no copy of the key older than it can be newer than what L2 saw.
 */
export function floorOf(cache: SchemaCache, value: string): number {
  const e = cache.header;
  if (!e.read(value) || e.kind === 'l') return 0;
  if (!e.ownerIs(value, cache.owner) && stampIn(cache, value, e.ownerAt, e.payloadAt - 1) < 0) return 0;
  return e.version;
}

function foreign(cache: SchemaCache, ctx: EngineContext, key: string, why: string): undefined {
  ctx.tolerate(
    cache.schema.name,
    'l2',
    'read',
    new StrataError('DECODE_FAILED', `L2 entry for ${key} refused: ${why}`),
  );
  return undefined;
}

/** PUT's ARGV for its entries. */
export function putArgs(entries: readonly PutEntry[]): string[] {
  const args = [String(entries.length)];
  for (const [version, ttl, value] of entries) args.push(String(version), String(Math.ceil(ttl)), value);
  return args;
}
