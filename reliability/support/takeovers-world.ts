import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema, type L2Tier, type Strata } from '@strata/core';
import { lapseWriterClaims } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import type { scratchApp } from './scratch-app.js';

export type Row = { id: string; n: number | null; note: string | null; extra: string | null };
type Mode = 'write-behind' | 'write-through';

/**
 * The table both apps write (one Postgres table in the scratch app's own schema) and its two
 * Strata schemas, one per mode; every write-behind write's dead letter is recorded in `dead`.
 */
export function takeoverTable(pgName: string, dead: unknown[]) {
  const table = pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n'),
    note: text('note'),
    extra: text('extra'),
  });
  const hooks = {
    onWriteError: (id: unknown, error: unknown) => void dead.push({ id, error: String(error) }),
  };
  const schemas = {
    'write-behind': defineSchema({ name: 'items', table, writeMode: 'write-behind', hooks }),
    'write-through': defineSchema({ name: 'items', table, writeMode: 'write-through', hooks }),
  };
  return { table, schemas };
}

type Schemas = ReturnType<typeof takeoverTable>['schemas'];
type ItemsSchema = Schemas[Mode];

/** One instance of an app: its mode, clock skew, and a switch that cuts its next L2 script. */
export interface Instance {
  label: string;
  app: 'A' | 'B';
  prefix: string;
  mode: Mode;
  s: Strata;
  schema: ItemsSchema;
  /** Scripts still to fail (without being sent) on this instance: a cut of its link to Redis. */
  cut: { left: number; hit: string[] };
  base: L2Tier;
}

/** The real L2, each `run` failing unsent while `cut.left` > 0 (the script's name recorded). */
function cutting(base: L2Tier, cut: Instance['cut']): L2Tier {
  return new Proxy(base, {
    get(target, prop) {
      if (prop === 'close') return async () => {};
      if (prop === 'run')
        return (script: { name: string }, keys: readonly string[], args: readonly string[], by?: number) => {
          if (cut.left > 0) {
            cut.left -= 1;
            cut.hit.push(script.name);
            return Promise.reject(new Error(`cut: ${script.name} not sent`));
          }
          return target.run(script as never, keys, args, by);
        };
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * Both apps' instances over one Redis and one table: A (an API write-through beside a worker
 * write-behind, their clocks 7 s apart) and B (two instances, `bModes`), each app with its own bus.
 * `ahead` moves every instance's clock (a lapse: 61 s). Their key prefixes end in `tag`: new apps.
 */
export function takeoverWorld(
  scratch: ReturnType<typeof scratchApp>,
  schemas: Schemas,
  bModes: [Mode, Mode],
  tag: string,
) {
  const time = { ahead: 0 };
  const specs: [Instance['app'], Mode, number][] = [
    ['A', 'write-behind', 7_000],
    ['A', 'write-through', -7_000],
    ['B', bModes[0], 0],
    ['B', bModes[1], 3_000],
  ];
  const prefixOf = (app: string) => `${scratch.name}${tag}${app.toLowerCase()}`;
  const instances: Instance[] = specs.map(([app, mode, skew], i) => {
    const prefix = prefixOf(app);
    const cut = { left: 0, hit: [] as string[] };
    const base = createIoredisL2(scratch.redisUrl);
    const s = scratch.strata({
      keyPrefix: prefix,
      schemas: [schemas[mode]],
      clock: { now: () => Date.now() + skew + time.ahead },
      l2: cutting(base, cut),
      coherence: { bus: createRedisPubSubBus({ url: scratch.redisUrl, channel: `${prefix}:bus` }) },
    });
    return { label: `${app}${(i % 2) + 1}`, app, prefix, mode, s, schema: schemas[mode], cut, base };
  });
  return {
    instances,
    time,
    /** Every claim lapsed (Postgres' and the shared ones), every clock 61 s on. */
    async lapse(): Promise<void> {
      time.ahead += 61_000;
      for (const app of ['A', 'B'])
        await lapseWriterClaims(scratch.admin, scratch.pgName, {
          redis: scratch.raw,
          keyPrefix: prefixOf(app),
        });
    },
    /** Redis lost every key of both apps (a restart without its data). */
    async wipe(): Promise<void> {
      for (const app of ['A', 'B']) {
        const keys = await scratch.raw.keys(`${prefixOf(app)}*`);
        if (keys.length > 0) await scratch.raw.del(...keys);
      }
    },
    async close(): Promise<void> {
      await Promise.allSettled(instances.map((i) => i.s.close()));
      await Promise.allSettled(instances.map((i) => i.base.close()));
    },
  };
}
