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
 *   search list.
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

type EnvelopeKind = 'r' | 'a' | 'l';

const TAG = '~1;';

/** Header fields between the tag and the payload. */
const FIELDS = 7;

/**
 * The L2 string of an envelope.
 * @example encodeEnvelope({ kind: 'r', pending: false, version: 7, generation: 0, expiresAt: 0, freshUntil: 0, owner: 'k3x9a1', payload: '{"id":"p1"}' });
 * // '~1;r;0;7;0;0;0;k3x9a1;{"id":"p1"}'
 */
export function encodeEnvelope(e: Envelope): string {
  return `${TAG}${e.kind};${e.pending ? 1 : 0};${e.version};${e.generation};${e.expiresAt};${e.freshUntil};${e.owner};${e.payload}`;
}

/** The envelope in an L2 string, or undefined when the string is not one this format can read. */
export function decodeEnvelope(value: string): Envelope | undefined {
  if (!value.startsWith(TAG)) return undefined;
  const parts: string[] = [];
  let from = TAG.length;
  for (let i = 0; i < FIELDS; i++) {
    const at = value.indexOf(';', from);
    if (at < 0) return undefined;
    parts.push(value.slice(from, at));
    from = at + 1;
  }
  const [kind, pending, version, generation, expiresAt, freshUntil, owner] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (kind !== 'r' && kind !== 'a' && kind !== 'l') return undefined;
  if (pending !== '0' && pending !== '1') return undefined;
  // Digits only, as the scripts read them: '', '1e3', ' 7' or '-5' are not numbers there either.
  const v = whole(version);
  const g = whole(generation);
  const e = whole(expiresAt);
  const f = whole(freshUntil);
  if (v === undefined || g === undefined || e === undefined || f === undefined) return undefined;
  return {
    kind,
    pending: pending === '1',
    version: v,
    generation: g,
    expiresAt: e,
    freshUntil: f,
    owner,
    payload: value.slice(from),
  };
}

const DIGITS = /^\d{1,16}$/;

function whole(text: string): number | undefined {
  if (!DIGITS.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Milliseconds an envelope still lives at `now` (0 = no expiry); negative when already past. */
export function remainingMs(e: Envelope, now: number): number {
  return e.expiresAt === 0 ? 0 : e.expiresAt - now;
}

/**
 * A short, stable tag of a schema's identity for the `owner` field (FNV-1a, base 36): an identity
 * check, not a security boundary.
 * @example ownerTag('tenant_a.players'); // e.g. '1k2j3h4'
 */
export function ownerTag(identity: string): string {
  return fnv1a(identity).toString(36);
}
