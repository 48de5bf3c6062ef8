import type { L3Tier } from '../l3/types.js';
import type { Database } from './database.js';
import { createLeanDrizzleL3, type DrizzleL3Options } from './drizzle-l3.js';
import { drizzleMigrate } from './migrate.js';

export type { DrizzleL3Options } from './drizzle-l3.js';

/**
 * The L3 tier over a Drizzle Postgres database, whatever its driver, migrate() included (a Worker
 * whose tables come from drizzle-kit can leave that out: createLeanDrizzleL3).
 * @example
 * import { drizzle } from 'drizzle-orm/neon-http';
 * const l3 = createDrizzleL3(drizzle(env.DATABASE_URL)); // neon-http: detected as 'batch'
 * await l3.migrate([userSchema]);
 * const [{ row, version }] = await l3.findMany(userSchema, ['u1']);
 * const top = await l3.search(userSchema, { where: gt(users.level, 10), orderBy: [{ key: 'level', desc: true }], limit: 20, offset: 0 });
 * // One transaction (one batch on neon-http): both ops or neither; each key's version moves on.
 * await l3.write([
 *   { schema: userSchema, writes: [{ row: { id: 'u1', level: 11 } }, { id: 'u2' }] },
 *   { schema: auditSchema, writes: [{ row: { id: 'a1', user: 'u1', action: 'level-up' } }] },
 * ]);
 */
export function createDrizzleL3(db: Database, options: DrizzleL3Options = {}): L3Tier {
  return createLeanDrizzleL3(db, { migrate: drizzleMigrate, ...options });
}
