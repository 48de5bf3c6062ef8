import type { CompiledSchema } from '../schema/types.js';
import { keySegment } from './key-segment.js';
import { tagKey } from './tag-keys.js';

/**
 * Where a schema lives in L2: `{root}:{identity or l2.keyPrefix}:…`. The identity is the schema's
 * qualified table, so two apps or tenants with a `players` table each (in different Postgres
 * schemas) never share a key, whatever their Strata schema names. Escaped (see `keySegment`): a
 * table `tag`, `"a.b"` or `"a:b"` would otherwise share keys with tags or other tables.
 *
 * - rows: `{base}:{fingerprint}-{codec}:r:{id}`, search lists `…:q2:{hash}`, stale-refresh leases `…:lease:{id}` (q2: the list format of search-list.ts): the fingerprint changes when the cached shape
 *   changes (so no instance reads a value of the old shape), the codec name keeps JSON and
 *   MessagePack apart. The generation lives inside each value (see envelope.ts): `invalidateAll` is
 *   one write instead of a SCAN, and the key keeps the version that orders later writes;
 * - `{base}:gen` (the generation), `{base}:sgen` (the search generation: moved on by every write,
 *   so a cached search list older than the last write is never served), `{base}:ver` (the counter
 *   that orders write-behind writes; outside the generation, so invalidateAll never resets it),
 *   `{base}:moved` (which Redis life the generation last moved on for after a reset), `{base}:shapes`
 *   (the shapes of the table live now: see `LiveShapes`; shared by every shape, like the others),
 *   `{base}:writer` (this app's claim of the table, shared by its instances: see `WriterClaims`);
 * - `{root}:boot` and `{root}:tick`, shared by the app's schemas: how a restarted or restored Redis
 *   is told apart (see `L2Watch`); `{root}:l3`, which database the app's L3 is (see `L3Claim`).
 */
export class KeySpace {
  /** The schema's part of its keys: its `l2.keyPrefix`, else its identity. */
  readonly prefix: string;
  readonly base: string;
  readonly generationKey: string;
  readonly searchGenerationKey: string;
  readonly versionKey: string;
  /**
   * The last epoch at which a write-through instance of the app found no `versionKey` (see
   * `RESERVE_THROUGH`): a counter seeded from that epoch or an earlier one is refused.
   */
  readonly versionMarkKey: string;
  /** The boot marker of the Redis life the generation was last moved for after a reset. */
  readonly movedKey: string;
  readonly bootKey: string;
  readonly tickKey: string;
  /** Which database the app's L3 is (see `L3Claim`): one per keyPrefix. */
  readonly l3ClaimKey: string;
  /**
   * Every schema also claims its base for its table (`claimTag`): two tables (two tenants' Postgres
   * schemas) given one `l2.keyPrefix`, or an `l2.keyPrefix` spelled like another table's identity
   * (`shop.players`), would share rows, counter and pending index. The second is refused L2.
   */
  readonly baseClaimKey: string;
  readonly claimTag: string;
  /**
   * The table's live-shape registry (see `LiveShapes`): a hash from each shape's
   * `{fingerprint}-{codec}` to Redis' time (ms) when an instance of that shape last confirmed it.
   */
  readonly shapesKey: string;
  /**
   * This app's claim of the table as its instances share it (see `WriterClaims`): `{mode} {identity}`,
   * expiring when the Postgres claim that wrote it stops being trusted. Read by the generation read;
   * bucket 0's is the one (the claim's owner is bucket 0's base).
   */
  readonly writerKey: string;
  /** This schema's shape, `{fingerprint}-{codec}`: its field in `shapesKey`. */
  readonly shape: string;
  readonly #shape: string;
  readonly #root: string;

  constructor(root: string, schema: CompiledSchema, codecName: string) {
    // The identity (or l2.keyPrefix), escaped so that no two tables and no app key share a key.
    const prefix = keySegment(schema);
    this.prefix = prefix;
    this.#root = root;
    this.base = `${root}:${prefix}`;
    this.generationKey = `${this.base}:gen`;
    this.searchGenerationKey = `${this.base}:sgen`;
    this.versionKey = `${this.base}:ver`;
    this.versionMarkKey = `${this.base}:vmark`;
    this.movedKey = `${this.base}:moved`;
    this.bootKey = `${root}:boot`;
    this.tickKey = `${root}:tick`;
    this.l3ClaimKey = `${root}:l3`;
    this.baseClaimKey = `${this.base}:l3`;
    this.claimTag = `|${schema.identity}`;
    this.shapesKey = `${this.base}:shapes`;
    this.writerKey = `${this.base}:writer`;
    this.shape = `${schema.fingerprint}-${codecName}`;
    this.#shape = `${this.base}:${this.shape}`;
  }

  row(id: string): string {
    return `${this.#shape}:r:${id}`;
  }

  /** The key of row `id` under another shape of the same table (a rolling deploy's other version). */
  rowOf(shape: string, id: string): string {
    return `${this.base}:${shape}:r:${id}`;
  }

  /**
   * A tag's value, shared by the app's schemas: `invalidateTags` moves it on (see tag-keys.ts). With
   * several buckets the app's tags live in bucket 0: only that bucket's KeySpace names them.
   */
  tag(name: string): string {
    return tagKey(this.#root, name);
  }

  /** Where the app's tags and tag clock live (see tag-keys.ts): this KeySpace's root. */
  get tagRoot(): string {
    return this.#root;
  }

  /** The lease of a stale row's refresh: one instance refreshes a key at a time (see refresh.ts). */
  refreshLease(id: string): string {
    return `${this.#shape}:lease:${id}`;
  }

  /**
   * The schema's pending index: its write-behind writes not flushed yet, a hash from row key to
   * `{version};{kind};{row}` (see PENDING), of this shape, like the rows it names.
   */
  get pendingIndex(): string {
    return `${this.#shape}:pending`;
  }

  /** The pending index of another shape of the table (see `pendingElsewhere`). */
  pendingIndexOf(shape: string): string {
    return `${this.base}:${shape}:pending`;
  }

  /** A cached search list, by the SHA-256 of its normalised query. */
  list(queryHash: string): string {
    return `${this.#shape}:q2:${queryHash}`;
  }
}
