import { type SQL, sql } from 'drizzle-orm';
import {
  CAPTURE_NOT_INSTALLED,
  type CapturedChange,
  type ChangeOp,
  type ChangePage,
  type ChangeSource,
} from '../../capture/types.js';
import { StrataError } from '../../errors.js';
import { sqlStateOf } from '../../l3/pg-errors.js';
import type { Database } from '../database.js';
import { driverError } from '../driver-error.js';
import { rowsOf } from '../rows.js';
import { fingerprintCheckStatement } from './capture-registry.js';
import type { CaptureTables } from './change-log.js';

/** Log entries per statement of a read. */
export const CHANGES_PAGE = 1_000;

/**
 * What a prune did.
 * @example const { deleted } = await source.prune(86_400_000);
 */
export interface PruneResult {
  /** Entries deleted. */
  readonly deleted: number;
}

/**
 * The Drizzle L3's change source: the `ChangeSource` seam plus `prune`, which deletes old entries
 * (a reader whose cursor they were past then reads `gap: true`).
 * @example
 * const source = l3.capture!.source() as DrizzleChangeSource;
 * await source.prune(24 * 3_600_000); // keep a day of changes
 */
export interface DrizzleChangeSource extends ChangeSource {
  prune(olderThanMs: number): Promise<PruneResult>;
}

const OPS = new Set<string>(['insert', 'update', 'delete', 'truncate', 'ddl']);
const XID8 = /^\d{1,20}$/;
/** `pg_snapshot` as text: `xmin:xmax:xip,…` (the transactions in progress when it was taken). */
const SNAPSHOT = /^(\d{1,20}):(\d{1,20}):((?:\d{1,20})(?:,\d{1,20})*)?$/;

/**
 * The cursor as a `pg_snapshot`'s text, and its xmin. A cursor is the snapshot of the read that
 * made it: the next read returns exactly the entries that snapshot could not see. A bare xid (what
 * cursors were before) reads as the snapshot `xid:xid:`, "everything from xid on", as it meant then.
 */
function checkCursor(cursor: string): { snapshot: string; xmin: bigint } {
  if (typeof cursor === 'string' && XID8.test(cursor)) {
    // Postgres refuses a snapshot at xid 0, which no transaction has: from 1 on is the same.
    const xid = BigInt(cursor) > 0n ? BigInt(cursor) : 1n;
    return { snapshot: `${xid}:${xid}:`, xmin: xid };
  }
  const match = typeof cursor === 'string' ? SNAPSHOT.exec(cursor) : null;
  if (!match || BigInt(match[1]!) > BigInt(match[2]!)) {
    throw new StrataError('INVALID_CONFIG', `not a change-log cursor: ${JSON.stringify(cursor)}`, {
      details: { field: 'cursor' },
    });
  }
  return { snapshot: cursor, xmin: BigInt(match[1]!) };
}

/** JSON text of an array column: the same shape whatever the driver does with Postgres arrays. */
function jsonArray<T>(value: unknown): T[] | null {
  if (value === null || value === undefined) return null;
  return JSON.parse(String(value)) as T[];
}

function changeOf(raw: Record<string, unknown>): CapturedChange {
  const op = String(raw.op);
  if (!OPS.has(op)) {
    throw new StrataError(
      'DECODE_FAILED',
      `change log: unknown op ${JSON.stringify(op)} (entry ${String(raw.seq)})`,
    );
  }
  const ids = jsonArray<string>(raw.ids);
  const versions = jsonArray<number>(raw.versions);
  const change = { schema: String(raw.schema), op: op as ChangeOp, ids, versions };
  return raw.app === null || raw.app === undefined ? change : { ...change, app: String(raw.app) };
}

class LogSource implements DrizzleChangeSource {
  readonly name: string;
  readonly #db: Database;
  readonly #tables: () => Promise<CaptureTables>;
  readonly #schemaCheckMs: number;
  /** When this source last checked the fingerprints (-Infinity: its first read checks). */
  #checkedAt = Number.NEGATIVE_INFINITY;

  constructor(name: string, db: Database, tables: () => Promise<CaptureTables>, schemaCheckMs: number) {
    this.name = name;
    this.#db = db;
    this.#tables = tables;
    this.#schemaCheckMs = schemaCheckMs;
  }

  async start(): Promise<string> {
    const rows = await this.#run(sql`select pg_current_snapshot()::text as "snapshot"`);
    return String(rows[0]?.snapshot);
  }

  /**
   * The entries the cursor's snapshot could not see (their transactions had not committed when it
   * was taken: an xid at or above its xmax, or one of its in-progress xids) and this read's snapshot
   * can, in (xid, seq) order, page by page. The next cursor is this read's snapshot. So a transaction
   * that commits out of order is read once, when it has committed, and an entry is never read twice
   * however long another transaction stays open (a cursor of the snapshot's xmin alone re-read every
   * entry above it on every poll).
   */
  async read(cursor: string): Promise<ChangePage> {
    const from = checkCursor(cursor);
    const { changes, meta } = await this.#tables();
    await this.#checkSchemas();
    const old = sql`${from.snapshot}::pg_snapshot`;
    // Text for what the driver reads; ordered and paged by the columns themselves (`l.`).
    const entries = sql`select l."seq" as "at_seq", l."xid" as "at_xid", l."seq"::text as "seq", l."xid"::text as "xid", l."schema", l."op", array_to_json(l."ids")::text as "ids", array_to_json(l."versions")::text as "versions", l."app" from ${sql.raw(changes)} l where (l."xid" >= pg_snapshot_xmax(${old}) or l."xid" = any(array(select pg_snapshot_xip(${old}))))`;
    // One statement: the snapshot, the pruned mark and the first page agree with each other.
    const first = await this.#run(
      sql`select s."snapshot", m."pruned_xid"::text as "pruned", c.* from (select pg_current_snapshot()::text as "snapshot") s left join ${sql.raw(meta)} m on true left join lateral (${entries} order by l."xid", l."seq" limit ${CHANGES_PAGE}) c on true order by c."at_xid", c."at_seq"`,
    );
    const head = first[0];
    const snapshot = String(head?.snapshot);
    const pruned = head?.pruned === null || head?.pruned === undefined ? 0n : BigInt(String(head.pruned));
    let page = first.filter((raw) => raw.seq !== null && raw.seq !== undefined);
    const found: CapturedChange[] = page.map(changeOf);
    // Later pages are later statements, with later snapshots: only what the first one saw is taken,
    // the rest is the next read's.
    const seen = sql`${snapshot}::pg_snapshot`;
    while (page.length === CHANGES_PAGE) {
      const last = page[page.length - 1]!;
      page = await this.#run(
        sql`${entries} and pg_visible_in_snapshot(l."xid", ${seen}) and (l."xid", l."seq") > (${String(last.xid)}::xid8, ${String(last.seq)}::bigint) order by l."xid", l."seq" limit ${CHANGES_PAGE}`,
      );
      found.push(...page.map(changeOf));
    }
    // A pruned entry the old snapshot had not seen is lost: entries below its xmin it had seen.
    return { changes: found, cursor: snapshot, gap: pruned !== 0n && from.xmin <= pruned };
  }

  /**
   * At most once per interval, before a read: logs a `ddl` entry for each registered table whose
   * definition moved on since the event trigger (or the last check) saw it. Its own statement,
   * committed before the read, so the read that follows returns the entry. Failing, it fails the
   * read (the relay counts and logs it and tries again): a check that never runs is never silent.
   * An install made before schema changes were captured has no registry yet: rows still flow (the
   * read goes on), `check()` reports the install incomplete, and the relay's first poll says so.
   */
  async #checkSchemas(): Promise<void> {
    // A pace, not a time of day: monotonic, so a wall clock stepped back never stops the checks.
    const now = performance.now();
    if (now - this.#checkedAt < this.#schemaCheckMs) return;
    const tables = await this.#tables();
    try {
      await this.#db.execute(sql.raw(fingerprintCheckStatement(tables)));
    } catch (error) {
      const cause = driverError(error);
      if (sqlStateOf(cause) !== '42P01') throw cause;
    }
    this.#checkedAt = now;
  }

  async prune(olderThanMs: number): Promise<PruneResult> {
    if (!Number.isFinite(olderThanMs) || olderThanMs < 0) {
      throw new StrataError('INVALID_CONFIG', `prune: olderThanMs must be a number >= 0, got ${olderThanMs}`);
    }
    const { changes, meta } = await this.#tables();
    // max over numeric: Postgres 14 has no max(xid8).
    const rows = await this.#run(
      sql`with gone as (delete from ${sql.raw(changes)} where "created_at" < now() - ${Math.floor(olderThanMs)} * interval '1 millisecond' returning "xid"), top as (select max("xid"::text::numeric) as "n", count(*) as "deleted" from gone), marked as (update ${sql.raw(meta)} set "pruned_xid" = greatest("pruned_xid", top."n"::text::xid8) from top where top."n" is not null returning 1) select "deleted"::int as "deleted" from top`,
    );
    return { deleted: Number(rows[0]?.deleted ?? 0) };
  }

  async #run(query: SQL): Promise<Record<string, unknown>[]> {
    try {
      return rowsOf(await this.#db.execute(query));
    } catch (error) {
      const cause = driverError(error);
      if (sqlStateOf(cause) === '42P01')
        throw new StrataError(
          'INVALID_CONFIG',
          'the change log does not exist: install change capture first',
          { cause, details: { reason: CAPTURE_NOT_INSTALLED } },
        );
      throw cause;
    }
  }
}

/**
 * The change source over the log in `tables` (resolved on first use); it checks the captured
 * tables' definitions at most every `schemaCheckMs` (0: before every read).
 */
export function changeSource(
  name: string,
  db: Database,
  tables: () => Promise<CaptureTables>,
  schemaCheckMs: number,
): DrizzleChangeSource {
  return new LogSource(name, db, tables, schemaCheckMs);
}
