import { fnv1a } from '../hash.js';

/**
 * The one format of every value Strata keeps in L2:
 *
 *   `~1;<kind>;<pending>;<version>;<generation>;<expiresAt>;<freshUntil>;<owner>;<payload>`
 *
 * - `~1`: the format. A reader that meets another one treats the value as a miss, so a later format
 *   can roll out while older instances still run. `~` also keeps a JSON-parsing client from turning
 *   the value into something else (it is never valid JSON).
 * - `kind`: `r` a row, `a` known absent (a delete's tombstone, a cached "not found"), `l` a cached
 *   search list, `x` superseded: the key changed outside Strata (change capture, `applyChanges`), or
 *   a write by another shape of the table (a rolling deploy, see `SHAPE_TAIL`), at `version`. Readers take an `x` as a miss (they read Postgres), and because every write script
 *   compares versions whatever the kind, a fill of what was read before that change (an older
 *   version) is refused while the refreshed read (that version or later) lands. Strata versions
 *   before `x` existed read an unknown kind as a miss too (see `decodeEnvelope`), and their scripts
 *   order against it by version all the same.
 * - `pending`: `1` for a write-behind row the flush has not applied yet (Postgres does not have it:
 *   invalidating the key must not drop it), else `0`.
 * - `version`: orders this value against every other write of the key (see docs/semantics.md). L2
 *   scripts compare it before they replace a value: an older write never lands over a newer one.
 * - `generation`: the schema's generation when it was written. `invalidateAll` moves the generation
 *   on, and a reader treats a value of an older one as a miss; the key stays the same, so the
 *   version it holds still orders later writes (an older write arriving after an invalidateAll is
 *   refused, where a fresh key would have taken it).
 * - `expiresAt` / `freshUntil`: ms since the epoch (0 = never), so a read is a plain GET: the
 *   remaining time to live comes with the value. `freshUntil` is the soft expiry kept for
 *   stale-while-revalidate; today it equals `expiresAt`.
 * - `owner`: a short hash of the schema's identity; a value found under a key that another schema
 *   wrote (a mistaken key prefix) is refused rather than served.
 */
export interface Envelope {
  readonly kind: EnvelopeKind;
  readonly pending: boolean;
  readonly version: number;
  readonly generation: number;
  readonly expiresAt: number;
  readonly freshUntil: number;
  readonly owner: string;
  readonly payload: string;
}

type EnvelopeKind = 'r' | 'a' | 'l' | 'x';

const TAG = '~1;';

/**
 * The L2 string of an envelope.
 * @example encodeEnvelope({ kind: 'r', pending: false, version: 7, generation: 0, expiresAt: 0, freshUntil: 0, owner: 'k3x9a1', payload: '{"id":"p1"}' });
 * // '~1;r;0;7;0;0;0;k3x9a1;{"id":"p1"}'
 */
export function encodeEnvelope(e: Envelope): string {
  return `${TAG}${e.kind};${e.pending ? 1 : 0};${e.version};${e.generation};${e.expiresAt};${e.freshUntil};${e.owner};${e.payload}`;
}

/**
 * The envelope in an L2 string, or undefined when the string is not one this format can read.
 * One pass over the header, no split and no regular expression: this runs on every L2 hit.
 */
export function decodeEnvelope(value: string): Envelope | undefined {
  if (!value.startsWith(TAG)) return undefined;
  const at = TAG.length;
  const kind = value[at];
  if (
    (kind !== 'r' && kind !== 'a' && kind !== 'l' && kind !== 'x') ||
    value.charCodeAt(at + 1) !== SEMICOLON
  )
    return undefined;
  const pending = value[at + 2];
  if ((pending !== '0' && pending !== '1') || value.charCodeAt(at + 3) !== SEMICOLON) return undefined;
  const field: Cursor = { next: at + 4 };
  // Digits only, as the scripts read them: '', '1e3', ' 7' or '-5' are not numbers there either.
  const version = whole(value, field);
  const generation = whole(value, field);
  const expiresAt = whole(value, field);
  const freshUntil = whole(value, field);
  if (version < 0 || generation < 0 || expiresAt < 0 || freshUntil < 0) return undefined;
  const ownerEnd = value.indexOf(';', field.next);
  if (ownerEnd < 0) return undefined;
  return {
    kind,
    pending: pending === '1',
    version,
    generation,
    expiresAt,
    freshUntil,
    owner: value.slice(field.next, ownerEnd),
    payload: value.slice(ownerEnd + 1),
  };
}

const SEMICOLON = 59;

interface Cursor {
  next: number;
}

/** The whole number (1 to 16 digits, safe) at `cursor` up to its ';', moving past it; -1 when none. */
function whole(value: string, cursor: Cursor): number {
  const from = cursor.next;
  let n = 0;
  let i = from;
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === SEMICOLON) break;
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  if (i === from || i - from > 16 || i === value.length || !Number.isSafeInteger(n)) return -1;
  cursor.next = i + 1;
  return n;
}

/**
 * The expiry `strata.expire` writes (DROP's `expire` rule): past its fresh time by 1 ms whenever it
 * is read, so its age is the same on every instance's clock (stale at once, kept for grace).
 */
export const EXPIRED_AT = 1;

/** Milliseconds an envelope still lives at `now` (0 = no expiry); negative when already past. */
export function remainingMs(e: Envelope, now: number): number {
  return e.expiresAt === 0 ? 0 : e.expiresAt === EXPIRED_AT ? -1 : e.expiresAt - now;
}

/**
 * A short, stable tag of a schema's identity for the `owner` field (FNV-1a, base 36): an identity
 * check, not a security boundary.
 * @example ownerTag('tenant_a.players'); // e.g. '1k2j3h4'
 */
export function ownerTag(identity: string): string {
  return fnv1a(identity).toString(36);
}

/**
 * Generations per era. A hard move of a schema's generation (L2 missed a committed write, Redis was
 * reset) starts the next era and orphans every value; `invalidateAll` moves it by one within the
 * era and orphans every value but pending write-behind rows: Postgres does not have those yet, so
 * dropping them would hide acknowledged writes until their flush.
 */
export const GENERATION_ERA = 2 ** 24;

/** Whether a reader at `generation` takes a value written at `e.generation` (see `GENERATION_ERA`). */
export function isCurrent(e: Envelope, generation: number): boolean {
  return (
    e.generation >= generation || (e.pending && e.generation >= generation - (generation % GENERATION_ERA))
  );
}
