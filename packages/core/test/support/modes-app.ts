import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { eq, getTableName } from 'drizzle-orm';
import { integer, type PgColumn, type PgTable, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll } from 'vitest';
import {
  createMemoryQueue,
  defineSchema,
  type InvalidationBus,
  type Schema,
  Strata,
  type StrataConfig,
} from '../../src/index.js';
import { createUpstashL2, createUpstashLogBus } from '../../src/upstash/index.js';
import { type EngineStack, engineStack } from './stack.js';

// Apps that write one table (`items`, or the file's own) in both write modes at once (see
// `ThroughOrder`): the file's engine stack and table, made before its tests and removed after them,
// and per app a write-behind and a write-through schema of the table and instances over one memory
// queue and one bus.

const itemsTable = (pg: string) =>
  pgSchema(pg).table('items', { id: text('id').primaryKey(), n: integer('n').notNull(), note: text('note') });
export type ItemsTable = ReturnType<typeof itemsTable>;
export type ItemsSchema = ReturnType<typeof defineSchema<ItemsTable>>;
type KeyedTable = PgTable & { id: PgColumn };

/**
 * Registers the file's hooks: `fixture.stack` and `fixture.items` (the table `tableOf` makes in the
 * file's Postgres schema; `items` by default) are set once `beforeAll` ran.
 */
export function modesFixture<T extends KeyedTable = ItemsTable>(
  label: string,
  tableOf: (pg: string) => T = itemsTable as unknown as (pg: string) => T,
) {
  const channels: string[] = [];
  const buses: InvalidationBus[] = [];
  const fixture = {
    stack: undefined as unknown as EngineStack,
    items: undefined as unknown as T,

    /**
     * An app of its own (keyPrefix, bus, queue) with a write-behind and a write-through schema of
     * `items`. The claims of the earlier tests' apps (closed) are lapsed, as 60 s would. `via`: an
     * Upstash REST URL in front of the devstack's (a proxy) for the instances' L2 and bus.
     */
    async app(tag: string, extra: Partial<StrataConfig> = {}, via?: string) {
      const { stack, items } = fixture;
      await stack.lapseClaims();
      const keyPrefix = `${stack.keyPrefix}${tag}`;
      const channel = uniqueName(`${label}_${tag}`);
      channels.push(channel);
      const name = getTableName(items);
      const behind = defineSchema({ name, table: items, writeMode: 'write-behind' });
      const through = defineSchema({ name, table: items });
      const queue = createMemoryQueue(); // one process: every write-behind instance flushes from it
      const opened: Strata[] = [];
      // Any schema of the table (another shape of it: a rolling deploy).
      const instance = (schema: Schema) => {
        const upstash = { ...testDevstack().upstash!, ...(via && { url: via }) };
        const bus = createUpstashLogBus({ ...upstash, stream: channel });
        buses.push(bus);
        const strata = new Strata({
          l2: via ? createUpstashL2(upstash) : stack.l2,
          l3: stack.l3,
          keyPrefix,
          coherence: { bus, pollInterval: 0 },
          writeBehind: { queue, threshold: 1_000_000 },
          schemas: [schema],
          ...extra,
        });
        opened.push(strata);
        return strata;
      };
      /** Closes every instance `instance` made. */
      const close = async () => {
        for (const s of opened) await s.close();
      };
      return { keyPrefix, behind, through, instance, close };
    },

    /** Row `id` as Postgres holds it; undefined when there is none. */
    async rowIn(id: string): Promise<Record<string, unknown> | undefined> {
      const { stack, items } = fixture;
      const [row] = await stack.db
        .select()
        .from(items as PgTable)
        .where(eq(items.id, id));
      return row as Record<string, unknown> | undefined;
    },

    /** `n` of row `id` in Postgres; undefined when there is none. */
    async inPostgres(id: string): Promise<number | undefined> {
      return (await fixture.rowIn(id))?.n as number | undefined;
    },
  };
  beforeAll(async () => {
    fixture.stack = await engineStack(label);
    fixture.items = tableOf(fixture.stack.name);
    await new Strata({ l3: fixture.stack.l3, schemas: [defineSchema({ table: fixture.items })] }).migrate();
  });
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
    if (channels.length > 0) await new Redis(testDevstack().upstash!).del(...channels);
    await fixture.stack?.cleanup();
  });
  return fixture;
}
