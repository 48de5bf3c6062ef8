import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import { defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// A failover to a replica that lagged gives back a Redis with the app's keys as they were a few
// milliseconds earlier: the boot marker unchanged, the tick a step behind (other instances make it
// up within seconds), and a write-through write's L2 copy gone, so L2 serves the row it replaced
// until its TTL. The server's replication id is what changes: the boot marker carries the id it was
// born under, and a generation read that finds another one replaces the marker and resets every
// instance, one that knew no marker before too. (The failover itself, on a real primary/replica
// pair: reliability/test/probe-hostile-9-failover.test.ts.) Here the "failover" is the same data
// with the marker born under another id, on the test's one Redis, through the Upstash protocol. No
// L1 and no bus: L2 is what a failover leaves behind.

let stack: EngineStack;
const clock = manualClock();
const REFRESH_PASSED = 5_001;

beforeAll(async () => {
  stack = await engineStack('server_life');
  await newStrata(playerSchema()).migrate();
});
afterAll(() => stack?.cleanup());

function playerSchema() {
  return defineSchema({ table: stack.tables.players, l1: false, l2: { ttl: '30m' } });
}

function newStrata(schema: ReturnType<typeof playerSchema>) {
  return new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, clock, schemas: [schema] });
}

const resets = (s: Strata) => s.stats().errorsBy['l2-reset'] ?? 0;
const bootKey = () => `${stack.keyPrefix}:boot`;

async function serverId(): Promise<string> {
  const info = await stack.redis.info('replication');
  return /master_replid:([0-9a-f]+)/.exec(info)![1]!;
}

describe("the boot marker carries the Redis server's replication id", () => {
  it('is set with the id of the server it was born on', async () => {
    const schema = playerSchema();
    const a = newStrata(schema);
    await a.find(schema, 'none');
    expect(await stack.redis.get(bootKey())).toMatch(new RegExp(`^b[0-9a-f]+@${await serverId()}$`));
    await a.close();
  });

  it('a marker born under another id: every instance resets and answers what Postgres holds', async () => {
    const schema = playerSchema();
    const writer = newStrata(schema);
    const reader = newStrata(schema);
    const id = 'failover';
    await writer.set(schema, { id, username: `user-${id}`, level: 1 });
    expect((await reader.get(schema, id)).level).toBe(1); // the reader's generation read: it knows the marker
    const [rowKey, ...others] = await stack.redis.keys(`${stack.keyPrefix}:*:r:${id}`);
    expect(others).toEqual([]);
    const v1 = (await stack.redis.get(rowKey!))!;
    await writer.set(schema, { id, username: `user-${id}`, level: 2 });
    await writer.close();
    // The failover: the row's L2 copy as the replica had it, the marker as it came back, under a
    // server that now has another id.
    await stack.redis.set(rowKey!, v1, 'PX', 600_000);
    const marker = (await stack.redis.get(bootKey()))!;
    await stack.redis.set(bootKey(), marker.replace(/@[0-9a-f]+$/, '@0123456789abcdef'));
    const fresh = newStrata(schema);
    clock.advance(REFRESH_PASSED);
    const read = async () => ({
      reader: (await reader.get(schema, id)).level,
      fresh: (await fresh.get(schema, id)).level,
    });
    await read();
    clock.advance(REFRESH_PASSED);
    expect(await read()).toEqual({ reader: 2, fresh: 2 });
    expect(resets(reader), 'the reader knew the old marker: it resets').toBe(1);
    expect(await stack.redis.get(bootKey())).toMatch(new RegExp(`@${await serverId()}$`));
    // Once: the new marker is of this server, later reads find nothing to reset.
    const after = resets(fresh);
    clock.advance(REFRESH_PASSED);
    await read();
    expect([resets(reader), resets(fresh)]).toEqual([1, after]);
    await Promise.all([reader.close(), fresh.close()]);
  });

  it('a marker of the same server, or one an older version set (no id): no reset', async () => {
    const schema = playerSchema();
    const a = newStrata(schema);
    await a.find(schema, 'none');
    clock.advance(REFRESH_PASSED);
    await a.find(schema, 'none');
    expect(resets(a)).toBe(0);
    await a.close();
    await stack.redis.set(bootKey(), 'bolderversion');
    const b = newStrata(schema);
    await b.find(schema, 'none');
    clock.advance(REFRESH_PASSED);
    await b.find(schema, 'none');
    expect(resets(b)).toBe(0);
    expect(await stack.redis.get(bootKey())).toBe('bolderversion');
    await b.close();
  });
});
