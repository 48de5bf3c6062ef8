import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import type { Statement } from './transactions.js';

/** One key for every Strata migrate() on the server ("StrataMg"), whatever schema it writes to. */
const LOCK_KEY = BigInt('0x5374726174614d67').toString();

/**
 * Takes the lock every Strata DDL waits for (migrate(), and applyVersioned creating its table), held
 * until the transaction ends. Its own file: writes take it too, in L3s that have no migrate().
 */
export function ddlLock(db: Database): Statement {
  return db.execute(sql.raw(`select pg_advisory_xact_lock(${LOCK_KEY})`));
}
