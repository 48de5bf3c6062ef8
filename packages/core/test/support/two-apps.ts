import { drizzle } from 'drizzle-orm/node-postgres';
import { changeRelay } from '../../src/capture/change-relay.js';
import { changeCapture, createDrizzleL3 } from '../../src/drizzle/index.js';
import { type CompiledSchema, Strata } from '../../src/index.js';
import { decodeEnvelope } from '../../src/l2/envelope.js';
import { createMemoryQueue } from '../../src/queue/memory-queue.js';
import type { EngineStack } from './stack.js';

/**
 * Strata apps (each its own `keyPrefix`: its caches, relay and registration) on one database and one
 * Redis, writing the same tables with change capture; relay passes are driven by hand
 * (`relayChanges()`), and each instance counts the statements its L3 ran.
 */
export function twoApps(stack: EngineStack, schemas: () => readonly CompiledSchema[]) {
  const opened: Strata[] = [];

  /** An instance of app `app` (`${stack.name}${app}`), on an L3 of its own whose statements it counts. */
  function instance(app: string) {
    const statements: string[] = [];
    const db = drizzle(stack.pool, { logger: { logQuery: (query) => void statements.push(query) } });
    const strata = new Strata({
      l2: stack.l2,
      l3: createDrizzleL3(db, { migrationsSchema: stack.name, capture: changeCapture }),
      keyPrefix: `${stack.name}${app}`,
      capture: { relay: changeRelay({ interval: '1h' }) },
      writeBehind: { queue: createMemoryQueue() },
      schemas: [...schemas()],
    });
    opened.push(strata);
    /** Statements that read or wrote the app's tables (not the change log, not the registries). */
    const l3On = (table: string) => statements.filter((s) => s.includes(`"${table}"`)).length;
    return Object.assign(strata, { l3On, app: `${stack.name}${app}` });
  }

  /** What `app`'s L2 holds for `id` of the players table (undefined: nothing). */
  async function inL2(app: App, id: string) {
    const keys = await stack.redis.keys(`${app.app}:*:r:${id}`);
    const value = keys[0] ? await stack.redis.get(keys[0]) : null;
    return value === null ? undefined : decodeEnvelope(value);
  }

  async function version(schema: string, id: string): Promise<number> {
    const { rows } = await stack.pool.query(
      `select version::text as v from "${stack.name}"."_strata_versions" where schema = $1 and id = $2`,
      [schema, id],
    );
    return Number(rows[0]?.v);
  }

  /** Log rows (app, ids) of `schema`, in commit order. */
  async function logged(schema: string): Promise<{ app: string | null; ids: string[] }[]> {
    const { rows } = await stack.pool.query(
      `select app, ids from "${stack.name}"."_strata_changes" where schema = $1 order by xid, seq`,
      [schema],
    );
    return rows;
  }

  /** The apps registered on `schema`'s table, sorted. */
  async function registered(schema: string): Promise<string[]> {
    const { rows } = await stack.pool.query(
      `select app from "${stack.name}"."_strata_capture_apps" where schema = $1 order by app`,
      [schema],
    );
    return rows.map((r) => r.app);
  }

  const close = () => Promise.allSettled(opened.map((s) => s.close()));
  return { instance, inL2, version, logged, registered, close };
}

export type App = ReturnType<ReturnType<typeof twoApps>['instance']>;
