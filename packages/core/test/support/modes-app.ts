import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { eq } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll } from 'vitest';
import {
  createMemoryQueue,
  defineSchema,
  type InvalidationBus,
  Strata,
  type StrataConfig,
} from '../../src/index.js';
import { createUpstashLogBus } from '../../src/upstash/index.js';
import { type EngineStack, engineStack } from './stack.js';

// Apps that write one table (`items`) in both write modes at once (see `ThroughOrder`): the file's
// engine stack and table, made before its tests and removed after them, and per app a write-behind
// and a write-through schema of the table and instances over one memory queue and one bus.

const itemsTable = (pg: string) =>
  pgSchema(pg).table('items', { id: text('id').primaryKey(), n: integer('n').notNull(), note: text('note') });
export type ItemsTable = ReturnType<typeof itemsTable>;
export type ItemsSchema = ReturnType<typeof defineSchema<ItemsTable>>;

/** Registers the file's hooks: `fixture.stack` and `fixture.items` are set once `beforeAll` ran. */
export function modesFixture(label: string) {
  const channels: string[] = [];
  const buses: InvalidationBus[] = [];
  const fixture = {
    stack: undefined as unknown as EngineStack,
    items: undefined as unknown as ItemsTable,

    /**
     * An app of its own (keyPrefix, bus, queue) with a write-behind and a write-through schema of
     * `items`. The claims of the earlier tests' apps (closed) are lapsed, as 60 s would.
     */
    async app(name: string, extra: Partial<StrataConfig> = {}) {
      const { stack, items } = fixture;
      await stack.lapseClaims();
      const keyPrefix = `${stack.keyPrefix}${name}`;
      const channel = uniqueName(`${label}_${name}`);
      channels.push(channel);
      const behind = defineSchema({ name: 'items', table: items, writeMode: 'write-behind' });
      const through = defineSchema({ name: 'items', table: items });
      const queue = createMemoryQueue(); // one process: every write-behind instance flushes from it
      const instance = (schema: ItemsSchema) => {
        const bus = createUpstashLogBus({ ...testDevstack().upstash!, stream: channel });
        buses.push(bus);
        return new Strata({
          l2: stack.l2,
          l3: stack.l3,
          keyPrefix,
          coherence: { bus, pollInterval: 0 },
          writeBehind: { queue, threshold: 1_000_000 },
          schemas: [schema],
          ...extra,
        });
      };
      return { keyPrefix, behind, through, instance };
    },

    /** Row `id` as Postgres holds it; undefined when there is none. */
    async rowIn(id: string) {
      const { stack, items } = fixture;
      const [row] = await stack.db.select().from(items).where(eq(items.id, id));
      return row;
    },

    /** `n` of row `id` in Postgres; undefined when there is none. */
    async inPostgres(id: string): Promise<number | undefined> {
      return (await fixture.rowIn(id))?.n;
    },
  };
  beforeAll(async () => {
    fixture.stack = await engineStack(label);
    fixture.items = itemsTable(fixture.stack.name);
    await new Strata({ l3: fixture.stack.l3, schemas: [defineSchema({ table: fixture.items })] }).migrate();
  });
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
    if (channels.length > 0) await new Redis(testDevstack().upstash!).del(...channels);
    await fixture.stack?.cleanup();
  });
  return fixture;
}
