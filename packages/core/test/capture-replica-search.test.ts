import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { applyChanges } from '../src/admin.js';
import { defineSchema, type InvalidationBus, Q, Strata } from '../src/index.js';
import type { StoredRow } from '../src/l3/types.js';
import { createUpstashLogBus } from '../src/upstash/index.js';
import { externalUpdate } from './support/external-update.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL3 } from './support/wrap.js';

/*
 * A captured change, then a search answered by a read replica that has not replayed it yet. Key
 * reads take a replica's row only at the version L2 holds or newer (the marker's); a search's rows
 * go into L1 by `offerToL1` (search.ts), which set L1 without the versions announced to it, and
 * the instance that applied a change announced none to itself (`SchemaCache.supersede`). Either
 * way L1 kept the old row, and gets answered it, until L1's TTL.
 */
let stack: EngineStack;
const channel = uniqueName('capture_replica_bus');
const buses: InvalidationBus[] = [];

beforeAll(async () => {
  stack = await engineStack('capture_replica');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await new Redis(testDevstack().upstash!).del(channel);
  await stack?.cleanup();
});

/** A replica whose searches answer, once `lag()` was called, what the last one read (it stopped replaying). */
function laggingReplica() {
  let last: StoredRow[] = [];
  let lagging = false;
  const replica = wrapL3(stack.l3, {
    search: async (schema, query) => {
      if (lagging) return last;
      last = await stack.l3.search(schema, query);
      return last;
    },
  });
  const lag = () => {
    lagging = true;
  };
  return { replica, lag };
}

function instance(players: ReturnType<typeof defineSchema>, bus?: InvalidationBus): Strata {
  return new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [players],
    ...(bus && { coherence: { bus, pollInterval: 20 } }),
  });
}

it('the instance that applied a change: a search on a lagging replica does not put the old row back in its L1', async () => {
  const { replica, lag } = laggingReplica();
  const players = defineSchema({ table: stack.tables.players, l3: { readReplica: replica } });
  const a = instance(players);
  await a.set(players, { id: 'rs1', username: 'rs1', level: 1 });
  const query = Q().where('username = $1', 'rs1').build();
  expect((await a.search(players, query)).map((r) => r.level)).toEqual([1]);
  lag();
  const version = await externalUpdate(stack, players.identity, 'rs1', 2);
  await applyChanges(a, [{ schema: players.identity, ids: ['rs1'], versions: [version], op: 'update' }]);
  expect(a.peek(players, 'rs1')).toBeUndefined();
  // The search answers the replica's rows (its lag); L1 must not keep them over the change.
  await a.search(players, query);
  await a.settled();
  // Before: L1 took the level-1 row at its old version, and get answered it.
  expect((await a.get(players, 'rs1')).level).toBe(2);
  await a.close();
});

it('an instance the bus told of the change: a search on a lagging replica does not put the old row back in its L1', async () => {
  const { replica, lag } = laggingReplica();
  const players = defineSchema({ table: stack.tables.players, l3: { readReplica: replica } });
  const { url, token } = testDevstack().upstash!;
  const bus = () => {
    const b = createUpstashLogBus({ url, token, stream: channel });
    buses.push(b);
    return b;
  };
  const a = instance(players, bus());
  const b = instance(players, bus());
  await a.set(players, { id: 'rs2', username: 'rs2', level: 1 });
  const query = Q().where('username = $1', 'rs2').build();
  expect((await b.search(players, query)).map((r) => r.level)).toEqual([1]);
  lag();
  const version = await externalUpdate(stack, players.identity, 'rs2', 2);
  const applied = b.stats().invalidationsApplied;
  await applyChanges(a, [{ schema: players.identity, ids: ['rs2'], versions: [version], op: 'update' }]);
  await vi.waitFor(
    async () => {
      await b.find(players, 'nobody'); // a read pulls the log bus
      expect(b.stats().invalidationsApplied).toBeGreaterThan(applied);
    },
    { timeout: 5_000, interval: 10 },
  );
  await b.search(players, query);
  await b.settled();
  // Before: the bus announced `version`, yet the search's L1 fill took the older row.
  expect((await b.get(players, 'rs2')).level).toBe(2);
  await a.close();
  await b.close();
});
