import type { SQL } from 'drizzle-orm';
import type { CompiledSchema } from '../schema/types.js';
import type { L3Capture } from './capture.js';

export type Row = Record<string, unknown>;

/**
 * One row of `_strata_migrations`: what `migrate()` or `migrateFrom` applied, and when.
 * @example
 * for (const record of await strata.migrationStatus()) console.log(record.fileName, record.appliedAt);
 */
export interface MigrationRecord {
  id: number;
  /** Schema name, or null for a SQL file applied by migrateFrom. */
  schema: string | null;
  /** What was applied: `auto:{table}:{fingerprint}` for migrate(), the file name for migrateFrom. */
  fileName: string;
  checksum: string;
  appliedAt: Date;
  /** The statements that ran. */
  statements: string[];
}

/**
 * What `strata.migrate()` did.
 * @example
 * const { applied } = await strata.migrate();
 * console.log(applied.length === 0 ? 'up to date' : applied.join(';\n'));
 */
export interface MigrationResult {
  /** Statements executed; empty when the database already matched. */
  applied: string[];
  records: MigrationRecord[];
}

export interface ScanOptions {
  /** Rows ordered by primary key, strictly after this key. */
  after?: unknown;
  limit: number;
}

/** A search the engine has already validated: column keys exist, limits are sane. */
export interface SearchQuery {
  /** A condition built with Drizzle: values are bound parameters, never spliced. Absent: all rows. */
  where?: SQL;
  /** JS column keys, in order of precedence. */
  orderBy?: readonly { key: string; desc: boolean }[];
  limit: number;
  offset: number;
  /** JS column keys to select; absent: every column. */
  fields?: readonly string[];
  /** Acknowledged writes Postgres does not have yet: the search answers as if they were applied. */
  pending?: PendingWrites;
}

/**
 * Write-behind writes acknowledged but not flushed yet, for a search or count to read as applied
 * (see `PendingWrite`). Each applies as its flush would: only over an older stored version.
 */
export type PendingWrites = readonly PendingWrite[];

/** One queued write of a key: its row (stored shape, JS keys) for a set, none for a delete. */
export interface PendingWrite {
  /** The key as Postgres prints the primary key (`pk::text`). */
  id: string;
  version: number;
  row?: Row;
  /**
   * Keys of `row`'s columns whose values are a new row's client defaults (`QueuedWrite.defaults`):
   * laid over a stored row they are not (the flush only inserts them). Absent: none.
   */
  defaults?: readonly string[];
  /**
   * The key's older queued writes this set carries beneath its own columns (`QueuedWrite.under`),
   * at their version: laid first, as their flush applies them, only where the stored version is
   * older (none: a queued delete). Absent: none.
   */
  under?: { version: number; row?: Row; defaults?: readonly string[] };
}

/** A row as Postgres holds it, with its version (0 when Strata has never written the key). */
export interface StoredRow {
  row: Row;
  version: number;
  /** `findMany` with `pending` only: the pending write given for this key was withdrawn (see `L3Tier.withdraw`). */
  withdrawn?: boolean;
}

/** A Redis-ordered write of a key (`id`: as Postgres prints the primary key) that will never be applied. */
export interface WithdrawnWrite {
  id: string;
  version: number;
}

/** A withdrawal `L3Tier.withdrawnAmong` found. */
export interface WithdrawalFound extends WithdrawnWrite {
  /**
   * Its dead letter is known sent (`withdrawalsSent`). Left out: not known; the flush then treats
   * it as unsent (a copy queued again after a Redis reset is dead-lettered: sent twice at worst,
   * never lost).
   */
  sent?: boolean;
}

/**
 * One write of a key: a row to upsert, or (without `row`) a delete of `id`. `version` says who
 * orders it. Absent: Postgres does, giving it the version after the stored one (write-through, a
 * transaction); the write always applies. Present: it was ordered elsewhere (write-behind versions
 * come from a Redis counter) and applies only when newer than the stored version, so a late or
 * replayed older write changes nothing.
 */
export interface Write {
  /** The primary key, for deletes (a set's comes from its row). */
  id?: unknown;
  row?: Row;
  version?: number;
  /**
   * A set that replaces the whole row, as a delete followed by an insert would: columns it leaves
   * out take their defaults and insert-only columns their new value (a delete and a set of one key,
   * folded into one write).
   */
  replace?: boolean;
  /**
   * Keys of `row`'s columns whose values are defaults filled in for a new row (a write-behind set's
   * `$defaultFn`, literal and `defaultNow()` values): as Postgres' DEFAULT, they go into the INSERT
   * and never over a stored row's values. Columns a set leaves out that have a `$defaultFn` are so too.
   */
  defaults?: readonly string[];
  /**
   * For a Redis-ordered write that stands for several of its key (a write-behind flush folds a key's
   * queued writes into one): the lowest of their versions. It applies only where the stored version
   * is below `since` as well, i.e. no other write of the key landed between the folded ones (the
   * fold could not have taken it into account); otherwise it is not applied, and the caller applies
   * the folded writes one by one.
   */
  since?: number;
  /**
   * With `since`: per key of `row`'s columns a folded write older than `version` set last, that
   * write's version (with `replace`, '' is the delete's the sets came after: the columns the row
   * leaves out were reset then). The key's version row records each column at its own version, as
   * applying the folded writes one by one would, so a write of another instance refused as older
   * merges the columns it set after them (`mergeRefused`): recorded at the fold's version, a delete
   * between them reset none (reliability/test/regression-delete-restored-late.test.ts).
   */
  setAt?: Readonly<Record<string, number>>;
  /**
   * For a Postgres-ordered write (no `version`) of an app that also orders writes of the table in
   * Redis (write-behind instances beside write-through ones): a version reserved from that app's
   * counter, handed out to this write alone. The write is then ordered as a Redis-ordered one at
   * version `floor`: it applies (the key takes `floor`) only where the stored version is below it,
   * else it is not applied (`WriteOutcome.version` is the floor) and the engine merges its set's
   * columns (`mergeRefused`). Never above the floor: a version the counter has not handed out yet
   * would be taken by a later write of the counter, which would then be taken for a redelivery.
   */
  floor?: number;
}

/** One schema's writes in a `write` call. A key appears once (the engine coalesces first). */
export interface WriteOp {
  schema: CompiledSchema;
  writes: readonly Write[];
  /**
   * The writing app (its `keyPrefix`; the engine sets it). An L3 with change capture marks it on its
   * statements, so the capture trigger can tell other apps on the same tables of the write
   * (docs/change-capture.md, "Two Strata apps writing one table"). One app per `write` call.
   */
  app?: string;
  /**
   * The last epoch (`nextEpoch`) of the schema the writer knows of: the op applies only while no
   * later one was started, else the call rejects with {@link EpochMoved} and writes nothing. A
   * write-through writer sends it where it orders its writes by Postgres alone because its app had
   * no Redis counter for the keys: a counter made since (a write-behind instance of its app started)
   * took a later epoch first (see docs/semantics.md, "Versions"). Absent: no check. An L3 that
   * ignores it orders such writes by Postgres alone.
   */
  epoch?: number;
}

/** What became of one write, in the order of `WriteOp.writes`. */
export interface WriteOutcome {
  /** False for a write that was older than the stored version (or superseded in the same call). */
  applied: boolean;
  /** The version the key holds after an applied write; the write's own version otherwise. */
  version: number;
  /** An applied set: the row as stored (defaults, kept insert-only columns, untouched columns). */
  row?: Row;
  /** An applied delete: whether a row was there. */
  existed?: boolean;
  /**
   * `mergeRefused` only: the constraint error that refused this write's merge (its columns keep
   * their values), rather than failing the other writes merged with it.
   */
  refusedBy?: unknown;
}

/**
 * The claim a table holds after `L3Tier.claimWriter`: the app (key namespace) that writes it and
 * its mode; `owner` is the caller's own when it holds the claim now.
 */
export interface WriterClaim {
  owner: string;
  mode: string;
  /**
   * The caller's claim is not known to have moved its version counter into a new epoch since it took
   * the table (it was another app's, of another mode, or an `ordered` claim's own app's row whose
   * move was not made yet): it must, then say so (`seeded`). False for a write-through claim of a
   * table no app has claimed yet (nothing is above its counters).
   */
  reseed: boolean;
  /**
   * Set when the claim was refused because the holder's table is another table of the same identity
   * (an unqualified table another session resolved in another Postgres schema, e.g. search_path
   * tenants sharing `migrationsSchema`): that table, qualified. A write-behind claim of it refuses
   * the caller even once it lapsed (the other table's queued writes would be outranked).
   */
  table?: string;
}

/**
 * The mark of one Redis version counter (see `L3Tier.markCounters`): the table (its identity), the
 * counter (its Redis key) and a version it handed out.
 */
export interface CounterMark {
  schema: string;
  counter: string;
  version: number;
}

/** One row's compare-and-set for `L3Tier.replaceValues`. */
export interface ValueReplacement {
  /** The row's primary key. */
  id: unknown;
  /** Column values (JS keys) the row must still hold; `null` means IS NULL. */
  expect: Row;
  /** Column values (JS keys) to set when it does. */
  set: Row;
}

/**
 * The L3 seam: Postgres through Drizzle, whatever its driver (node-postgres, neon-serverless,
 * neon-http, pglite). Rows use the Drizzle table's JS keys and JS types (Date, bigint, Uint8Array).
 * Implementations throw on failure; the engine maps errors to L3_UNAVAILABLE and applies timeouts.
 * @example
 * const l3: L3Tier = createDrizzleL3(drizzle(pool));
 * const strata = new Strata({ l3, schemas: [playerSchema] });
 */
export interface L3Tier {
  readonly name: string;
  /**
   * Rows whose primary key is in `ids`, with their versions, in no particular order. One statement.
   * `pending`: queued writes of some of these keys the caller lays over the rows; each row says
   * whether its key's write among them was withdrawn (`StoredRow.withdrawn`, see `withdraw`).
   */
  findMany(schema: CompiledSchema, ids: readonly unknown[], pending?: PendingWrites): Promise<StoredRow[]>;
  /** Whether a row with this primary key exists, reading no other column. */
  exists(schema: CompiledSchema, id: unknown): Promise<boolean>;
  /** Rows in primary-key order, with their versions, for warming caches page by page. */
  scan(schema: CompiledSchema, options: ScanOptions): Promise<StoredRow[]>;
  /** Rows matching the query, in its order, with their versions. One statement. */
  search(schema: CompiledSchema, query: SearchQuery): Promise<StoredRow[]>;
  /** How many rows match `where` (all rows when absent), `pending` read as applied. One statement. */
  count(schema: CompiledSchema, where?: SQL, pending?: PendingWrites): Promise<number>;
  /**
   * Every op, across schemas, atomically, each write with its version (see {@link Write}): the
   * version of every key is recorded in `_strata_versions` in the same statement or transaction as
   * its row, under the version row's lock, so versions follow commit order. One statement for one
   * schema's rows of one shape; else one transaction (one `db.batch` on neon-http). Resolves, per
   * op, what became of each write.
   */
  write(ops: readonly WriteOp[]): Promise<WriteOutcome[][]>;
  /**
   * Redis-ordered sets `write` refused as older than the key's version: each applies the columns
   * it set that no write of a higher version set since (per column, as `write` records them), and
   * leaves the key's version as it is. Resolves, per op and write, applied (the row as stored, the
   * key's version) where it set a column. A delete (`id`, no `row`) refused so sets each column no
   * write of a higher version set to its default (the row the later writes would have built over the
   * deleted one); never a key whose later write deleted it. Optional: without it such a write's
   * columns are lost where the write that outran it did not carry them (another app's, or a later
   * epoch's).
   */
  mergeRefused?(ops: readonly WriteOp[]): Promise<WriteOutcome[][]>;
  /**
   * Starts a new epoch of Redis-ordered versions for the schema and resolves it: greater than every
   * epoch started before and than every version stored for the schema. The engine seeds a schema's
   * Redis version counter at `epoch * 2^36` (`EPOCH_SPAN`) when the counter is missing or went back.
   */
  nextEpoch(schema: CompiledSchema): Promise<number>;
  /**
   * Claims the schema's table for one app's writes (`owner`, its key namespace), for 60 s of
   * Postgres' clock, and resolves the claim the table holds then (see {@link WriterClaim}). An
   * `exclusive` claim (write-behind: its versions come from the app's own Redis counter, which no
   * other app's versions compare with) is taken only where no other app holds a live claim; a
   * write-through one only where no other app holds a live exclusive one. `seeded`: the caller's
   * counter was moved into a new epoch since it took the table (for an `ordered` claim: or its
   * app's claim has held since one that was). `ordered` (a write-through claim only): the caller
   * orders its writes by its app's counters (it has an L2), so over its own app's live write-behind
   * claim the table stays write-behind and seeded (the lease extended): that app's counters need no
   * new epoch; over any other row of its own app it keeps `seeded` (or sets it): a row left unseeded
   * by a move not made yet says so to each of the app's instances. An L3 may ignore it (the claim
   * then flips the mode, and the app's next write-behind claim takes a new epoch). Optional: without it, apps are not kept from
   * writing one table write-behind side by side (docs/semantics.md, "One writer per table").
   */
  claimWriter?(
    schema: CompiledSchema,
    owner: string,
    exclusive: boolean,
    seeded: boolean,
    ordered?: boolean,
  ): Promise<WriterClaim>;
  /**
   * Raises each named counter's mark, in Postgres, to the version given (never lowers it): the
   * greatest version that Redis counter is known to have handed out (its seeds, and the versions
   * its writes are flushed at). Postgres keeps it when Redis is restored from an older snapshot.
   * Optional, with `counterMarks`: without them a counter that went back is found only by the
   * instances that remember a newer tick (docs/semantics.md, "Redis restarted or restored").
   */
  markCounters?(marks: readonly CounterMark[]): Promise<void>;
  /**
   * Records, in Postgres, that these Redis-ordered writes of `schema` will never be applied (a dead
   * letter): `write` refuses them from then on (as older: not applied), and so does every read that
   * lays pending writes over the table (`search` and `count` with `pending`, `findMany`'s
   * `withdrawn`). Where Redis cannot undo it: a Redis gone back to an older snapshot brings back
   * their pending rows and queue messages. Withdrawals of the schema that Postgres' versions have
   * reached (nothing would apply them) and whose dead letter is known sent (`withdrawalsSent`: until
   * then its message may be delivered again) may be deleted in the same statement (a bounded
   * number). Optional: without it
   * such a write is answered, or applied, again after such a rollback (docs/semantics.md, Faults).
   */
  withdraw?(schema: CompiledSchema, writes: readonly WithdrawnWrite[]): Promise<void>;
  /**
   * Which of these writes of `schema` `withdraw` recorded (and no later withdrawal cleanup
   * deleted), in any order, each saying whether its dead letter is known sent (`withdrawalsSent`).
   * One statement. The flush asks it of the writes `write` refused, so a dead letter delivered again
   * (its dead-letter send failed, or a Redis rollback brought its message back) goes to the
   * dead-letter store again rather than being acked as older, and so does a copy its writer queued
   * again after a Redis reset (`QueuedWrite.restored`) unless its dead letter is known sent: the
   * reset may have taken the original unsent. Optional, with `withdraw`: without it such a delivery
   * is acked (docs/write-behind.md, Failures).
   */
  withdrawnAmong?(schema: CompiledSchema, writes: readonly WithdrawnWrite[]): Promise<WithdrawalFound[]>;
  /**
   * Marks these withdrawals of `schema` as having their dead letter sent (the dead-letter store took
   * it: its message will not be delivered again unless replayed or brought back by a Redis rollback).
   * Until then `withdraw`'s cleanup keeps them, whatever Postgres' versions reached: a dead letter
   * whose send failed is delivered again, and told from an older write only by its withdrawal.
   * Optional, with `withdraw`: an L3 without it keeps every withdrawal its cleanup would look at.
   */
  withdrawalsSent?(schema: CompiledSchema, writes: readonly WithdrawnWrite[]): Promise<void>;
  /** The marks of the counters of table `schema` (identity) named, one statement; unmarked ones left out. */
  counterMarks?(schema: string, counters: readonly string[]): Promise<CounterMark[]>;
  /**
   * Which database this is, as a short stable string (e.g. Postgres' system identifier and database
   * name): the engine claims it in Redis under the app's keyPrefix, so two apps whose L3s differ
   * but share a Redis and a keyPrefix are refused L2 instead of serving each other's rows. Optional:
   * without it that check is skipped.
   */
  identity?(): Promise<string>;
  /**
   * Where this database is in its write-ahead log, as a byte offset (an LSN): on a primary, a
   * position at or past the commit of every write that has returned; on a read replica (a hot
   * standby), how far it has replayed. Positions of a primary and of its replicas compare: a replica
   * at or past a write's position shows that write. `readYourWrites` reads it after this instance's
   * writes and of a schema's `readReplica` (docs/semantics.md, "Read replicas"). Optional: without
   * it (on the primary or the replica), reads routed to a replica go there unchecked.
   */
  walPosition?(): Promise<number>;
  /**
   * Sets columns of existing rows by primary key, each only where the row still holds its `expect`
   * values (compare-and-set: a row written meanwhile is left as it is). A plain UPDATE of the `set`
   * columns: no insert, no other column, no version recorded. All in one transaction (or one
   * `db.batch`). Resolves the ids that changed. Used by key rotation (`reencrypt` of `@strata/core/admin`).
   */
  replaceValues(schema: CompiledSchema, changes: readonly ValueReplacement[]): Promise<unknown[]>;
  /** Additive, idempotent DDL for the schemas' tables, recorded in `_strata_migrations`. */
  migrate(schemas: readonly CompiledSchema[]): Promise<MigrationResult>;
  migrationStatus(): Promise<MigrationRecord[]>;
  /**
   * Change capture: triggers that record writes made outside Strata, and the reader of their log.
   * Optional: an L3 without it cannot follow other writers (`strata.capture` refuses it).
   */
  readonly capture?: L3Capture;
}
