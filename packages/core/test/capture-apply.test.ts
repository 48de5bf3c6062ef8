import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyChanges } from '../src/admin.js';
import {
  type CapturedChange,
  createMemoryQueue,
  defineSchema,
  type InvalidationBus,
  isStrataError,
  Q,
  Strata,
  type StrataConfig,
} from '../src/index.js';
import { decodeEnvelope } from '../src/l2/envelope.js';
import { MARK } from '../src/l2/scripts.js';
import type { L3Tier } from '../src/l3/types.js';
import { createUpstashLogBus } from '../src/upstash/index.js';
import { deferred } from './support/deferred.js';
import { externalUpdate } from './support/external-update.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { signal, wrapL3 } from './support/wrap.js';

/*
 * Captured changes (writes made outside Strata) applied to every tier. The external writes are
 * made the way change capture sees them (see `externalUpdate`).
 */
let stack: EngineStack;
let players: ReturnType<typeof playerSchema>;
const channel = uniqueName('capture_apply_bus');
const buses: InvalidationBus[] = [];
const playerSchema = () => defineSchema({ table: stack.tables.players });

beforeAll(async () => {
  stack = await engineStack('capture_apply');
  players = playerSchema();
  await new Strata({ l3: stack.l3, schemas: [players] }).migrate();
});
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await new Redis(testDevstack().upstash!).del(channel);
  await stack?.cleanup();
});

function instance(extra: Partial<StrataConfig> = {}, schemas = [players]): Strata {
  return new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas, ...extra });
}

function withBus(extra: Partial<StrataConfig> = {}): Strata {
  const { url, token } = testDevstack().upstash!;
  const bus = createUpstashLogBus({ url, token, stream: channel });
  buses.push(bus);
  return instance({ coherence: { bus, pollInterval: 20 }, ttl: { l1: '10m' }, ...extra });
}

const update = (id: string, version: number): CapturedChange => ({
  schema: players.identity,
  ids: [id],
  versions: [version],
  op: 'update',
});

/** What L2 holds for a row key, decoded (undefined: nothing or not an envelope). */
async function inL2(id: string) {
  const keys = await stack.redis.keys(`${stack.keyPrefix}:*:r:${id}`);
  expect(keys.length).toBeLessThanOrEqual(1);
  const value = keys[0] ? await stack.redis.get(keys[0]) : null;
  return value === null ? undefined : decodeEnvelope(value);
}

/** The real L3, whose reads answer what they read only once `release` is resolved; `read` says one ran. */
function heldL3() {
  const read = signal();
  const release = deferred<void>();
  const held: L3Tier = wrapL3(stack.l3, {
    findMany: async (s, ids) => {
      const rows = await stack.l3.findMany(s, ids);
      read.resolve();
      await release.promise;
      return rows;
    },
  });
  return { held, read, release };
}

describe('applyChanges', () => {
  it('a read of the old row that fills L2 after the change is refused; the next read returns the new row', async () => {
    const writer = instance();
    await writer.set(players, { id: 'race1', username: 'race1', level: 1 });
    await writer.invalidate(players, 'race1'); // L2 empty: the reader goes to Postgres
    // The reader's L3 read returns what it read (the old row) only when let go.
    const { held, read, release } = heldL3();
    const reader = instance({ l3: held });
    const late = reader.get(players, 'race1');
    await read.promise;
    const version = await externalUpdate(stack, players.identity, 'race1', 2);
    await applyChanges(writer, [update('race1', version)]);
    expect(await inL2('race1')).toMatchObject({ kind: 'x', version });
    release.resolve();
    expect((await late).level).toBe(1); // it read before the change: its answer is the old row
    // ...but its fill was refused: L2 still says "superseded at `version`".
    expect(await inL2('race1')).toMatchObject({ kind: 'x', version });
    const fresh = instance();
    expect((await fresh.get(players, 'race1')).level).toBe(2);
    expect(fresh.stats().hits.l3).toBe(1);
    // The read at the new version replaced the marker.
    expect(await inL2('race1')).toMatchObject({ kind: 'r', version });
    expect((await instance().get(players, 'race1')).level).toBe(2);
    expect(writer.stats().capture).toMatchObject({ changesApplied: 1, idsInvalidated: 1 });
  });

  it('this instance fences its own read in flight: its L1 does not take the old row', async () => {
    await instance().set(players, { id: 'race2', username: 'race2', level: 1 });
    const { held, read, release } = heldL3();
    const strata = instance({ l3: held });
    await strata.invalidate(players, 'race2');
    const late = strata.get(players, 'race2');
    await read.promise;
    const version = await externalUpdate(stack, players.identity, 'race2', 5);
    await applyChanges(strata, [update('race2', version)]);
    release.resolve();
    expect((await late).level).toBe(1);
    expect(strata.stats().fencedFills).toBeGreaterThanOrEqual(1);
    expect(strata.peek(players, 'race2')).toBeUndefined();
  });

  it('across two instances on one bus: both L1s drop the row, and a searchCached list is not served after', async () => {
    const a = withBus();
    const b = withBus();
    await a.set(players, { id: 'bus1', username: 'bus1', level: 1 });
    const query = Q().where('username = $1', 'bus1').build();
    for (const s of [a, b]) {
      expect((await s.get(players, 'bus1')).level).toBe(1);
      expect((await s.searchCached(players, query)).map((r) => r.level)).toEqual([1]);
    }
    // B may still apply A's own set message (which drops its copy): read until L1 holds it.
    await vi.waitFor(
      async () => {
        await b.get(players, 'bus1');
        expect(b.stats().invalidationsApplied).toBeGreaterThanOrEqual(1);
        expect(b.peek(players, 'bus1')?.level).toBe(1);
      },
      { timeout: 5_000, interval: 30 },
    );
    const version = await externalUpdate(stack, players.identity, 'bus1', 9);
    const applied = b.stats().invalidationsApplied;
    await applyChanges(a, [update('bus1', version)]);
    expect(a.peek(players, 'bus1')).toBeUndefined();
    await vi.waitFor(
      async () => {
        await b.find(players, 'nobody'); // a read pulls the log bus
        expect(b.stats().invalidationsApplied).toBeGreaterThan(applied);
      },
      { timeout: 5_000, interval: 10 },
    );
    expect(b.peek(players, 'bus1')).toBeUndefined();
    for (const s of [a, b]) {
      expect((await s.get(players, 'bus1')).level).toBe(9);
      expect((await s.searchCached(players, query)).map((r) => r.level)).toEqual([9]);
    }
    await a.close();
    await b.close();
  });

  it('never marks over a pending write-behind row at or above the bound; one below it stays marked through its settle', async () => {
    const behind = defineSchema({ table: stack.tables.players, writeMode: 'write-behind' });
    const queue = createMemoryQueue();
    const strata = instance({ writeBehind: { queue } }, [behind]);
    await strata.set(behind, { id: 'wb1', username: 'wb1', level: 4 });
    const pending = await inL2('wb1');
    expect(pending).toMatchObject({ kind: 'r', pending: true });
    // Outside writes logged before its flush hold an older version: the queued write wins.
    await applyChanges(strata, [
      { schema: behind.identity, ids: ['wb1'], versions: [3], op: 'update' },
      { schema: behind.identity, ids: ['wb1'], versions: [pending!.version - 1], op: 'update' },
    ]);
    expect(await inL2('wb1')).toEqual(pending);
    expect(
      (await instance({ writeBehind: { queue: createMemoryQueue() } }, [behind]).get(behind, 'wb1')).level,
    ).toBe(4);
    // One logged at its version came after its flush committed (write-behind tables are never
    // bumped): marked, and the flush's settle, its reply late, does not put the row back.
    await applyChanges(strata, [
      { schema: behind.identity, ids: ['wb1'], versions: [pending!.version], op: 'update' },
    ]);
    expect(await inL2('wb1')).toMatchObject({ kind: 'x', version: pending!.version });
    await strata.flushDirty();
    expect(await inL2('wb1')).toMatchObject({ kind: 'x', version: pending!.version });
    expect((await strata.get(behind, 'wb1')).level).toBe(4); // from Postgres
    await strata.close();
  });

  it('never marks over a newer version; repeated changes are harmless', async () => {
    const strata = instance();
    const row = await strata.set(players, { id: 'newer1', username: 'newer1', level: 3 });
    const cached = await inL2('newer1');
    expect(cached?.kind).toBe('r');
    await applyChanges(strata, [update('newer1', cached!.version - 1), update('newer1', cached!.version)]);
    expect(await inL2('newer1')).toEqual(cached);
    expect((await instance().get(players, 'newer1')).level).toBe(row.level);
    // Many changes of one key in a call: one key marked, at the newest version.
    await applyChanges(strata, [
      update('newer1', cached!.version + 2),
      update('newer1', cached!.version + 1),
    ]);
    expect(await inL2('newer1')).toMatchObject({ kind: 'x', version: cached!.version + 2 });
    expect(strata.stats().capture.idsInvalidated).toBe(2);
  });

  it('a statement that changed 2,500 rows is marked in requests of at most 1,000 keys, every key marked', async () => {
    const marks: number[] = [];
    const l2 = stack.l2;
    const counting = Object.create(l2) as typeof l2;
    counting.run = (script, keys, args) => {
      if (script === MARK) marks.push(Number(args[1])); // ARGV[2]: how many row keys it marks
      return l2.run(script, keys, args);
    };
    const strata = instance({ l2: counting });
    const ids = Array.from({ length: 2_500 }, (_, i) => `bulk${i}`);
    await applyChanges(strata, [{ schema: players.identity, ids, versions: ids.map(() => 5), op: 'update' }]);
    expect(marks).toEqual([1_000, 1_000, 500]);
    for (const id of ['bulk0', 'bulk999', 'bulk1000', 'bulk2499'])
      expect(await inL2(id), id).toMatchObject({ kind: 'x', version: 5 });
    expect(strata.stats().capture.idsInvalidated).toBe(2_500);
  });

  it('the marker lives the tombstone TTL', async () => {
    const strata = instance();
    await applyChanges(strata, [update('ttl1', 7)]);
    const keys = await stack.redis.keys(`${stack.keyPrefix}:*:r:ttl1`);
    const ttl = await stack.redis.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it.each(['truncate', 'ddl'] as const)(
    'a %s moves the generation on: every cached row and list of the schema is dropped',
    async (op) => {
      const a = withBus();
      const b = withBus();
      const id = `${op}1`;
      await a.set(players, { id, username: id, level: 1 });
      await b.get(players, id);
      const l3Before = a.stats().hits.l3;
      const gen = async () =>
        Number(await stack.redis.get((await stack.redis.keys(`${stack.keyPrefix}:*:gen`))[0]!));
      const before = await gen();
      await applyChanges(a, [{ schema: players.identity, ids: null, versions: null, op }]);
      expect(await gen()).toBeGreaterThan(before);
      await a.get(players, id);
      expect(a.stats().hits.l3).toBe(l3Before + 1);
      await vi.waitFor(
        async () => {
          await b.find(players, 'nobody');
          expect(b.peek(players, id)).toBeUndefined();
        },
        { timeout: 5_000, interval: 10 },
      );
      await a.close();
      await b.close();
    },
  );

  it('skips and counts changes of tables no schema is registered for', async () => {
    const strata = instance();
    await strata.set(players, { id: 'known1', username: 'known1', level: 1 });
    const cached = await inL2('known1');
    await applyChanges(strata, [
      { schema: 'another_app.players', ids: ['known1'], versions: [999], op: 'update' },
      { schema: 'another_app.orders', ids: null, versions: null, op: 'truncate' },
    ]);
    expect(strata.stats().capture).toMatchObject({
      changesApplied: 0,
      idsInvalidated: 0,
      unknownSchemasSkipped: 2,
    });
    expect(await inL2('known1')).toEqual(cached);
  });

  it('refuses bad input with VALIDATION_FAILED and applies nothing of the batch', async () => {
    const strata = instance();
    await strata.set(players, { id: 'bad1', username: 'bad1', level: 1 });
    const cached = await inL2('bad1');
    const good = update('bad1', cached!.version + 1);
    const bad: unknown[] = [
      'not an array',
      [good, null],
      [good, { schema: players.identity, ids: ['bad1'], versions: [1, 2], op: 'update' }],
      [good, { schema: players.identity, ids: ['bad1'], versions: [-1], op: 'update' }],
      [good, { schema: players.identity, ids: ['bad1'], versions: [1.5], op: 'update' }],
      [good, { schema: players.identity, ids: ['bad1'], versions: [2 ** 60], op: 'update' }],
      [
        good,
        {
          get schema(): string {
            throw new Error('a getter that throws');
          },
          ids: ['bad1'],
          versions: [1],
          op: 'update',
        },
      ],
      [good, { schema: players.identity, ids: [''], versions: [1], op: 'update' }],
      [good, { schema: players.identity, ids: ['bad1'], versions: [1], op: 'upsert' }],
      [good, { schema: players.identity, ids: ['bad1'], versions: [1], op: 'truncate' }],
      [good, { schema: players.identity, ids: ['bad1'], versions: [1], op: 'ddl' }],
      [good, { schema: players.identity, ids: null, versions: [1], op: 'ddl' }],
      [good, { schema: 42, ids: ['bad1'], versions: [1], op: 'update' }],
      [good, { schema: players.identity, ids: 'bad1', versions: [1], op: 'update' }],
    ];
    for (const [at, input] of bad.entries()) {
      const err = await applyChanges(strata, input as CapturedChange[]).catch((e: unknown) => e);
      expect(isStrataError(err, 'VALIDATION_FAILED'), `bad input ${at}`).toBe(true);
    }
    expect(await inL2('bad1')).toEqual(cached);
    expect(strata.stats().capture).toMatchObject({ changesApplied: 0, idsInvalidated: 0 });
  });
});
