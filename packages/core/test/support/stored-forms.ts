import { eq } from 'drizzle-orm';
import {
  char,
  cidr,
  date,
  inet,
  integer,
  interval,
  macaddr,
  macaddr8,
  numeric,
  pgSchema,
  real,
  text,
  time,
  timestamp,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';
import { afterAll, beforeAll } from 'vitest';
import { createMemoryQueue, defineSchema, Strata, type WriteMode } from '../../src/index.js';
import { type EngineStack, engineStack } from './stack.js';

// A table of every column type whose values Postgres answers in a form of its own, written by one
// app per write mode (a table each: one writer per table), and read back from each tier alone.

const formsTable = (pg: string, name: string) =>
  pgSchema(pg).table(name, {
    id: text('id').primaryKey(),
    n: integer('n'),
    u: uuid('u'),
    uArr: uuid('u_arr').array(),
    ts: timestamp('ts', { mode: 'string' }),
    tstz: timestamp('tstz', { mode: 'string', withTimezone: true }),
    d: date('d', { mode: 'string' }),
    t: time('t'),
    ttz: time('ttz', { withTimezone: true }),
    iv: interval('iv'),
    tsd: timestamp('tsd', { mode: 'date' }),
    tstzd: timestamp('tstzd', { mode: 'date', withTimezone: true }),
    ts0: timestamp('ts0', { mode: 'date', precision: 0 }),
    ts2: timestamp('ts2', { mode: 'date', precision: 2, withTimezone: true }),
    dd: date('dd', { mode: 'date' }),
    ch: char('ch', { length: 5 }),
    ch1: char('ch1'),
    vc: varchar('vc', { length: 3 }),
    num: numeric('num', { precision: 10, scale: 2 }),
    numu: numeric('numu'),
    numn: numeric('numn', { mode: 'number', precision: 10, scale: 2 }),
    r: real('r'),
    ip: inet('ip'),
    cd: cidr('cd'),
    mac: macaddr('mac'),
    mac8: macaddr8('mac8'),
  });
export type FormsTable = ReturnType<typeof formsTable>;
export type FormsRow = Partial<FormsTable['$inferSelect']> & { id: string };
export type Column = Exclude<keyof FormsTable['$inferSelect'], 'id'>;

/** Registers the file's hooks; `app(mode)` is usable once `beforeAll` ran. */
export function storedFormsFixture(label: string) {
  let stack: EngineStack;
  const tables = {} as Record<WriteMode, FormsTable>;
  const opened: Strata[] = [];
  beforeAll(async () => {
    stack = await engineStack(label);
    for (const mode of ['write-through', 'write-behind'] as const) {
      tables[mode] = formsTable(stack.name, mode === 'write-through' ? 'forms_t' : 'forms_b');
      await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: tables[mode] })] }).migrate();
    }
  });
  afterAll(async () => {
    for (const s of opened) await s.close();
    await stack?.cleanup();
  });
  const open = (strata: Strata) => {
    opened.push(strata);
    return strata;
  };

  /**
   * An app writing its table in `mode` (its own keyPrefix), and readers of one tier each: `l2`, an
   * instance of the app without L1; `l3`, one without L1 or L2 (another keyPrefix); `raw`, Drizzle.
   */
  return (mode: WriteMode) => {
    const table = tables[mode];
    const keyPrefix = `${stack.keyPrefix}${mode === 'write-through' ? 't' : 'b'}`;
    const queue = createMemoryQueue();
    const schema = defineSchema({ table, writeMode: mode });
    const writer = open(
      new Strata({
        l2: stack.l2,
        l3: stack.l3,
        keyPrefix,
        schemas: [schema],
        writeBehind: { queue, threshold: 1e6 },
      }),
    );
    const l2Schema = defineSchema({ table, writeMode: mode, l1: false });
    const l2 = open(
      new Strata({
        l2: stack.l2,
        l3: stack.l3,
        keyPrefix,
        schemas: [l2Schema],
        writeBehind: { queue, threshold: 1e6 },
      }),
    );
    const l3Schema = defineSchema({ table, l1: false });
    const l3 = open(new Strata({ l3: stack.l3, keyPrefix: `${keyPrefix}l3`, schemas: [l3Schema] }));
    /** Row `id` read by `strata`, which must answer it from `tier`. */
    const from = async (strata: Strata, s: typeof schema, id: string, tier: 'l1' | 'l2' | 'l3') => {
      const { row, status } = await strata.findWithStatus(s, id);
      if (status.tier !== tier) throw new Error(`${id} was answered by ${status.tier}, not ${tier}`);
      return (row ?? undefined) as FormsRow | undefined;
    };
    return {
      schema,
      table,
      writer,
      /** Row `id` as L1 (the writer) and L2 alone (an instance without L1) answer it. */
      cached: async (id: string) => ({
        l1: await from(writer, schema, id, 'l1'),
        l2: await from(l2, l2Schema, id, 'l2'),
      }),
      /** Row `id` as Postgres holds it, read through Strata alone and through Drizzle. */
      async stored(id: string) {
        const [raw] = await stack.db.select().from(table).where(eq(table.id, id));
        return { l3: await from(l3, l3Schema, id, 'l3'), drizzle: raw as FormsRow | undefined };
      },
    };
  };
}
