import { fnv1a } from '../hash.js';
import { codeAt, indexFrom, startsAt } from '../strings.js';

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
 * (The read path reads the header in place with {@link EnvelopeHeader}; this makes the strings.)
 */
export function decodeEnvelope(value: string): Envelope | undefined {
  const h = new EnvelopeHeader();
  if (!h.read(value)) return undefined;
  return {
    kind: h.kind,
    pending: h.pending,
    version: h.version,
    generation: h.generation,
    expiresAt: h.expiresAt,
    freshUntil: h.freshUntil,
    owner: value.slice(h.ownerAt, h.payloadAt - 1),
    payload: value.slice(h.payloadAt),
  };
}

const SEMICOLON = 59;
const TILDE = 126;
const ONE = 49;

/**
 * An envelope's header read in place: its fields, and where its owner and its payload begin, with
 * no object, substring or array made per value. The read path keeps one and reads every L2 hit's
 * value with it (up to thousands per batch): the owner is compared where it stands, and only the
 * payload is cut out, for the codec. One pass, no split and no regular expression.
 * @example
 * const h = new EnvelopeHeader();
 * h.read('~1;r;0;7;0;0;0;k3x9a1;{"id":"p1"}'); // true: h.version 7, value.slice(h.payloadAt) the row
 */
export class EnvelopeHeader {
  kind: EnvelopeKind = 'r';
  pending = false;
  version = 0;
  generation = 0;
  expiresAt = 0;
  freshUntil = 0;
  /** Where the owner field begins; it ends at `payloadAt - 1` (its ';'). */
  ownerAt = 0;
  payloadAt = 0;

  /**
   * Reads `value`'s header into this; false (this left half read) when this format cannot read it.
   * One function with no call in it: the read path inlines it into code too large to inline more.
   */
  read(value: string): boolean {
    if (codeAt(value, 0) !== TILDE || codeAt(value, 1) !== ONE || codeAt(value, 2) !== SEMICOLON)
      return false;
    const k = codeAt(value, 3);
    // r, a, l, x
    if ((k !== 114 && k !== 97 && k !== 108 && k !== 120) || codeAt(value, 4) !== SEMICOLON) return false;
    const p = codeAt(value, 5);
    if ((p !== 48 && p !== 49) || codeAt(value, 6) !== SEMICOLON) return false;
    // Four whole numbers, each 1 to 16 digits and safe, up to its ';'. Digits only, as the scripts
    // read them: '', '1e3', ' 7' or '-5' are not numbers there either.
    let i = 7;
    for (let field = 0; field < 4; field++) {
      const from = i;
      let n = 0;
      for (; ; i++) {
        const c = codeAt(value, i);
        if (c === SEMICOLON) break;
        // Past the end charCodeAt is NaN, which fails this too.
        if (!(c >= 48 && c <= 57)) return false;
        n = n * 10 + (c - 48);
      }
      if (i === from || i - from > 16 || n > Number.MAX_SAFE_INTEGER) return false;
      if (field === 0) this.version = n;
      else if (field === 1) this.generation = n;
      else if (field === 2) this.expiresAt = n;
      else this.freshUntil = n;
      i++;
    }
    const ownerEnd = indexFrom(value, ';', i);
    if (ownerEnd < 0) return false;
    this.kind = k === 114 ? 'r' : k === 97 ? 'a' : k === 108 ? 'l' : 'x';
    this.pending = p === 49;
    this.ownerAt = i;
    this.payloadAt = ownerEnd + 1;
    return true;
  }

  /** Whether the owner field is exactly `owner`, compared in place. */
  ownerIs(value: string, owner: string): boolean {
    return this.payloadAt - 1 - this.ownerAt === owner.length && startsAt(value, owner, this.ownerAt);
  }
}

/**
 * The expiry `strata.expire` writes (DROP's `expire` rule): past its fresh time by 1 ms whenever it
 * is read, so its age is the same on every instance's clock (stale at once, kept for grace).
 */
export const EXPIRED_AT = 1;

/** Milliseconds an envelope still lives at `now` (0 = no expiry); negative when already past. */
export function remainingMs(e: Pick<Envelope, 'expiresAt'>, now: number): number {
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
 * dropping them would hide acknowledged writes until their flush. A pending row a hard move orphaned
 * is still answered where it is newer than the version Postgres holds (engine/orphaned-pending.ts).
 */
export const GENERATION_ERA = 2 ** 24;

/** Whether a reader at `generation` takes a value written at `e.generation` (see `GENERATION_ERA`). */
export function isCurrent(e: Pick<Envelope, 'generation' | 'pending'>, generation: number): boolean {
  return (
    e.generation >= generation || (e.pending && e.generation >= generation - (generation % GENERATION_ERA))
  );
}
