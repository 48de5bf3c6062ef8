import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { type App, twoApps } from './support/two-apps.js';

/*
 * Model-based run of two Strata apps (two keyPrefixes on one Redis) on one captured write-through
 * table: random writes through app A, app B and plain SQL (some at once on one key, some while the
 * other app reads it), reads, and relay passes driven by hand. The rules: right after an app's relay
 * pass, that app answers what Postgres holds, key by key, from L1 and from L2; at the end (each
 * relay caught up) both do; and the log holds one entry per outside statement that changed a row
 * (no app) and one per trigger that fired on a Strata write statement (an upsert's INSERT and
 * UPDATE triggers each log the keys they saw), under its writer's name.
 */
const APPS = ['a', 'b'] as const;
const KEYS = 3;
const RUNS = Number(process.env.STRATA_TWO_APPS_MODEL_RUNS ?? 25);

type Op =
  | { kind: 'set'; by: number; key: number; level: number }
  | { kind: 'setMany'; by: number; keys: number[]; level: number }
  | { kind: 'delete'; by: number; key: number }
  | { kind: 'read'; by: number; key: number }
  | { kind: 'outsideUpdate'; key: number; level: number }
  | { kind: 'outsideUpsert'; key: number; level: number }
  | { kind: 'outsideDelete'; key: number }
  | { kind: 'relay'; by: number }
  /** An app removes its capture (the other's goes on), or installs it again and drops its caches. */
  | { kind: 'leave'; by: number }
  | { kind: 'join'; by: number }
  /** A and B set one key at once: either may commit last. */
  | { kind: 'bothSet'; key: number; level: number }
  /** An app sets a key while an outside statement updates it. */
  | { kind: 'setAndOutside'; by: number; key: number; level: number }
  /** An app reads a key while the other app writes it (the read may load the old row). */
  | { kind: 'readWhileOtherSets'; by: number; key: number; level: number };

const by = fc.integer({ min: 0, max: APPS.length - 1 });
const key = fc.integer({ min: 0, max: KEYS - 1 });
const level = fc.integer({ min: 1, max: 1_000_000 });
/** Writes, reads and relay passes; leaving and joining (DDL under the lock, slower) less often. */
const often = <T>(arbitrary: fc.Arbitrary<T>) => ({ arbitrary, weight: 5 });
const op: fc.Arbitrary<Op> = fc.oneof(
  often(fc.record({ kind: fc.constant('set' as const), by, key, level })),
  often(
    fc.record({
      kind: fc.constant('setMany' as const),
      by,
      keys: fc.uniqueArray(key, { minLength: 2, maxLength: KEYS }),
      level,
    }),
  ),
  often(fc.record({ kind: fc.constant('delete' as const), by, key })),
  often(fc.record({ kind: fc.constant('read' as const), by, key })),
  often(fc.record({ kind: fc.constant('outsideUpdate' as const), key, level })),
  often(fc.record({ kind: fc.constant('outsideUpsert' as const), key, level })),
  often(fc.record({ kind: fc.constant('outsideDelete' as const), key })),
  often(fc.record({ kind: fc.constant('relay' as const), by })),
  often(fc.record({ kind: fc.constant('bothSet' as const), key, level })),
  often(fc.record({ kind: fc.constant('setAndOutside' as const), by, key, level })),
  often(fc.record({ kind: fc.constant('readWhileOtherSets' as const), by, key, level })),
  { arbitrary: fc.record({ kind: fc.constant('leave' as const), by }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('join' as const), by }), weight: 2 },
);

let stack: EngineStack;
let apps: ReturnType<typeof twoApps>;
let instances: App[];
const players = () => defineSchema({ table: stack.tables.players, l1: { ttl: '10m' }, l2: { ttl: '10m' } });
let schema: ReturnType<typeof players>;
/** Which apps have capture installed (registered on the table). */
const joined = APPS.map(() => true);
const table = () => `"${stack.name}"."players"`;

beforeAll(async () => {
  stack = await engineStack('capture_apps_model');
  schema = players();
  apps = twoApps(stack, () => [schema]);
  instances = APPS.map((name) => apps.instance(name));
  await instances[0]!.migrate({ capture: true });
  await instances[1]!.capture.install();
  for (const x of instances) expect(await x.relayChanges()).toMatchObject({ status: 'applied' });
});
afterAll(async () => {
  for (const x of instances ?? []) await x.capture.remove();
  await apps?.close();
  await stack?.cleanup();
});

/** Whether the statement changed (or, a select, found) a row: the log entries it makes, 0 or 1. */
async function outside(text: string, values: unknown[]): Promise<number> {
  const result = await stack.pool.query(text, values);
  return (result.rowCount ?? 0) > 0 ? 1 : 0;
}

/**
 * What `app`'s L2 answers for `id`: its row's level, null (known absent), or undefined (a miss: nothing,
 * a superseded mark, or a value of an older generation, which invalidateAll left behind).
 */
async function fromL2(app: App, id: string): Promise<number | null | undefined> {
  const envelope = await apps.inL2(app, id);
  const generation = Number((await stack.redis.get(`${app.app}:${schema.identity}:gen`)) ?? 0);
  if (envelope === undefined || envelope.generation < generation) return undefined;
  if (envelope.kind === 'r') return JSON.parse(envelope.payload).level;
  return envelope.kind === 'a' ? null : undefined;
}

/**
 * App `x` installs its capture again. What was written while it was away reached no log it reads
 * (the other app's writes are not logged while that app is alone), so it drops its caches.
 */
async function join(x: number): Promise<void> {
  await instances[x]!.capture.install();
  await instances[x]!.invalidateAll(schema);
  joined[x] = true;
}

function ignoreNotFound(error: unknown): void {
  if ((error as { code?: string }).code !== 'NOT_FOUND') throw error;
}

describe('model: two apps and outside SQL on one captured table, relays by hand', () => {
  it("after an app's relay pass it answers what Postgres holds, from L1 and L2", async () => {
    let run = 0;
    const tally = { ops: 0, checks: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 24 }), async (ops) => {
        run += 1;
        const id = (k: number) => `m${run}-k${k}`;
        const row = (k: number, value: number) => ({ id: id(k), username: id(k), level: value });
        const before = await entries();
        /** Log entries the run's statements make: outside ones (no app), and each app's own. */
        const expected = { ...before };
        // A Strata write is logged while another app than its writer is registered; an outside one
        // while any is (the triggers are there).
        const wrote = (x: number) => {
          if (joined.some((is, other) => is && other !== x)) expected[APPS[x]!] += 1;
        };
        const changedOutside = (changed: number) => {
          if (joined.some((is) => is)) expected.outside += changed;
        };
        const setBy = async (x: number, k: number, value: number) => {
          await instances[x]!.set(schema, row(k, value));
          wrote(x);
        };
        for (const o of ops) {
          tally.ops += 1;
          switch (o.kind) {
            case 'set':
              await setBy(o.by, o.key, o.level);
              break;
            case 'setMany': {
              // One upsert statement: its INSERT trigger logs the new keys, its UPDATE trigger the others.
              const { rows } = await stack.pool.query(
                `select count(*)::int as n from ${table()} where id = any($1::text[])`,
                [o.keys.map(id)],
              );
              await instances[o.by]!.setMany(
                schema,
                o.keys.map((k) => row(k, o.level)),
              );
              if (rows[0].n > 0) wrote(o.by);
              if (rows[0].n < o.keys.length) wrote(o.by);
              break;
            }
            case 'delete': {
              // A delete of no row changes none: no entry.
              const existed = (await outside(`select 1 from ${table()} where id = $1`, [id(o.key)])) > 0;
              await instances[o.by]!.delete(schema, id(o.key)).catch(ignoreNotFound);
              if (existed) wrote(o.by);
              break;
            }
            case 'read':
              await instances[o.by]!.find(schema, id(o.key));
              break;
            case 'outsideUpdate':
              changedOutside(
                await outside(`update ${table()} set level = $2 where id = $1`, [id(o.key), o.level]),
              );
              break;
            case 'outsideUpsert':
              changedOutside(
                await outside(
                  `insert into ${table()} (id, username, level) values ($1, $1, $2) on conflict (id) do update set level = excluded.level`,
                  [id(o.key), o.level],
                ),
              );
              break;
            case 'outsideDelete':
              changedOutside(await outside(`delete from ${table()} where id = $1`, [id(o.key)]));
              break;
            case 'relay': {
              const x = instances[o.by]!;
              expect(await x.relayChanges()).toMatchObject({ status: 'applied', gap: false });
              // Unregistered, its capture is incomplete (check() says so), and nothing it caches is promised.
              expect(x.stats().capture.notInstalled).toEqual(joined[o.by] ? [] : [schema.identity]);
              if (joined[o.by]) await answersPostgres([o.by], ops, id);
              break;
            }
            case 'leave':
              await instances[o.by]!.capture.remove();
              joined[o.by] = false;
              break;
            case 'join':
              await join(o.by);
              break;
            case 'bothSet':
              await Promise.all([setBy(0, o.key, o.level), setBy(1, o.key, o.level + 1)]);
              break;
            case 'setAndOutside': {
              const [, changed] = await Promise.all([
                setBy(o.by, o.key, o.level),
                outside(`update ${table()} set level = $2 where id = $1`, [id(o.key), o.level + 1]),
              ]);
              changedOutside(changed);
              break;
            }
            case 'readWhileOtherSets':
              await Promise.all([instances[o.by]!.find(schema, id(o.key)), setBy(1 - o.by, o.key, o.level)]);
              break;
          }
        }
        for (const [x, is] of joined.entries()) if (!is) await join(x);
        for (const x of instances)
          expect(await x.relayChanges()).toMatchObject({ status: 'applied', gap: false });
        await answersPostgres([0, 1], ops, id);
        expect(await entries()).toEqual(expected);
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    expect(tally.checks).toBeGreaterThan(RUNS * 2);

    /** Each app in `of` answers Postgres's row (or none) for every key the run used, and its L2 agrees. */
    async function answersPostgres(of: number[], ops: readonly Op[], id: (k: number) => string) {
      const used = new Set(ops.flatMap((o) => ('keys' in o ? o.keys : 'key' in o ? [o.key] : [])));
      for (const k of used) {
        const { rows } = await stack.pool.query(`select level from ${table()} where id = $1`, [id(k)]);
        const pg: number | null = rows[0]?.level ?? null;
        for (const x of of) {
          const app = instances[x]!;
          // L2 first (a find may fill it).
          expect([undefined, pg], `${app.app} L2 ${id(k)}`).toContain(await fromL2(app, id(k)));
          const served = (await app.find(schema, id(k)))?.level ?? null;
          expect(served, `${app.app} serves ${id(k)}`).toBe(pg);
          tally.checks += 1;
        }
      }
    }
  }, 300_000);
});

/** The log's entries so far, counted as outside (no app) and per app. */
async function entries(): Promise<{ outside: number; a: number; b: number }> {
  const { rows } = await stack.pool.query(
    `select app, count(*)::int as n from "${stack.name}"."_strata_changes" group by app`,
  );
  const count = (app: string | null) => rows.find((r) => r.app === app)?.n ?? 0;
  return { outside: count(null), a: count(instances[0]!.app), b: count(instances[1]!.app) };
}
