import { freePort } from '@strata/devstack';
import { serviceUrls } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import { createDrizzleL3 } from '../src/drizzle/index.js';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import { createUpstashL2 } from '../src/upstash/index.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL3 } from './support/wrap.js';

let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('engine_faults');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(() => stack?.cleanup());

describe('L2 down', () => {
  it('reads fall back to L3, writes commit to L3, errors are counted, the breaker opens', async () => {
    const closed = await freePort();
    const deadL2 = createUpstashL2({ url: `http://127.0.0.1:${closed}`, token: 't', retry: false } as never);
    const clock = manualClock();
    const schema = defineSchema({ table: stack.tables.players });
    const strata = new Strata({
      l2: deadL2,
      l3: stack.l3,
      clock,
      keyPrefix: stack.keyPrefix,
      breaker: { failureThreshold: 3, cooldown: '10s' },
      timeouts: { l2: '500ms' },
      schemas: [schema],
    });
    const stored = await strata.set(schema, { id: 'l2down', username: 'resilient' });
    expect(stored.username).toBe('resilient');
    const fresh = new Strata({
      l2: deadL2,
      l3: stack.l3,
      clock,
      keyPrefix: stack.keyPrefix,
      schemas: [schema],
    });
    expect((await fresh.get(schema, 'l2down')).username).toBe('resilient');
    expect(fresh.stats().hits.l3).toBe(1);
    expect(fresh.stats().errorsBy.l2).toBeGreaterThan(0);

    for (let i = 0; i < 5; i++) await strata.find(schema, `miss-${i}`);
    const breaker = strata.stats().l2Breaker!;
    expect(breaker.state).toBe('open');
    expect(breaker.rejected).toBeGreaterThan(0);
  });

  it('a schema whose source of truth is L2 fails its writes and reads with L2_UNAVAILABLE', async () => {
    const closed = await freePort();
    const deadL2 = createUpstashL2({ url: `http://127.0.0.1:${closed}`, token: 't', retry: false } as never);
    const schema = defineSchema({ table: stack.tables.sessions, l3: false });
    const strata = new Strata({ l2: deadL2, schemas: [schema] });
    const err = await strata.set(schema, { id: 's', userId: 'u' }).catch((e: unknown) => e);
    expect(isStrataError(err, 'L2_UNAVAILABLE')).toBe(true);
    // A read is an error too, not "no such row": L2 is where the row would be; counted.
    const before = strata.stats().errorsBy.l2 ?? 0;
    const read = await strata.find(schema, 's').catch((e: unknown) => e);
    expect(isStrataError(read, 'L2_UNAVAILABLE')).toBe(true);
    expect(strata.stats().errorsBy.l2).toBe(before + 1);
  });
});

describe('L3 down', () => {
  it('cached reads still answer; writes and uncached reads fail fast with L3_UNAVAILABLE', async () => {
    const schema = defineSchema({ table: stack.tables.players });
    await new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [schema] }).set(
      schema,
      {
        id: 'cached',
        username: 'cached',
      },
    );
    const closed = await freePort();
    const url = new URL(serviceUrls().databaseUrl);
    url.port = String(closed);
    const pool = new pg.Pool({ connectionString: url.toString(), connectionTimeoutMillis: 500 });
    pool.on('error', () => {});
    const deadL3 = createDrizzleL3(drizzle(pool));
    const strata = new Strata({ l2: stack.l2, l3: deadL3, keyPrefix: stack.keyPrefix, schemas: [schema] });
    expect((await strata.get(schema, 'cached')).username).toBe('cached');
    const write = await strata.set(schema, { id: 'new', username: 'new' }).catch((e: unknown) => e);
    expect(isStrataError(write, 'L3_UNAVAILABLE')).toBe(true);
    const read = await strata.get(schema, 'uncached').catch((e: unknown) => e);
    expect(isStrataError(read, 'L3_UNAVAILABLE')).toBe(true);
    expect((read as Error).cause).toBeDefined();
    await pool.end();
  });

  it('an L3 call that hangs fails with L3_UNAVAILABLE after its timeout', async () => {
    const schema = defineSchema({ table: stack.tables.players });
    const hanging = wrapL3(stack.l3, { findMany: () => new Promise<never>(() => {}) });
    const strata = new Strata({ l3: hanging, timeouts: { l3: '200ms' }, schemas: [schema] });
    const err = await strata.get(schema, 'x').catch((e: unknown) => e);
    expect(isStrataError(err, 'L3_UNAVAILABLE')).toBe(true);
    expect(isStrataError((err as Error).cause, 'TIMEOUT')).toBe(true);
  });
});
