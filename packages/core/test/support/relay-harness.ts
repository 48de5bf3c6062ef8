import { testDevstack } from '@strata/devstack/testing';
import { expect, vi } from 'vitest';
import type { PollOutcome } from '../../src/capture/relay.js';
import { relayKeys } from '../../src/capture/relay-keys.js';
import { defineSchema, type InvalidationBus, Strata } from '../../src/index.js';
import { decodeEnvelope } from '../../src/l2/envelope.js';
import { createUpstashL2, createUpstashLogBus } from '../../src/upstash/index.js';
import { shortLeasePlan } from './held-source.js';
import { engineStack } from './stack.js';

const DEADLINE_MS = 10_000;

/**
 * Apps whose instances run relays with a short lease over the real change log (a `counters` table
 * in the stack's Postgres schema), each instance with its own L2 client and a log bus of the app;
 * and the checks that every tier agrees with Postgres. `outside` writes through a plain pg client.
 */
export async function relayHarness(label: string, leaseMs: number) {
  const stack = await engineStack(label);
  const counters = defineSchema({ table: stack.tables.counters });
  await new Strata({ l3: stack.l3, schemas: [counters] }).migrate({ capture: true });
  let root = 0;
  const buses: InvalidationBus[] = [];
  const opened: Strata[] = [];

  const outside = (statement: string) => stack.pool.query(statement.replaceAll('counters', table()));
  const table = () => `"${stack.name}"."counters"`;

  /** A fresh app (key root, bus, 12 rows) whose instances each run a relay with a short lease. */
  async function app() {
    const keyPrefix = `${stack.keyPrefix}x${root++}`;
    const { url, token } = testDevstack().upstash!;
    const first = root * 100;
    const ids = Array.from({ length: 12 }, (_, i) => first + i);
    await stack.pool.query(`insert into ${table()} (id, n) select g, 0 from unnest($1::int[]) g`, [ids]);
    const make = (instanceId: string, source = stack.l3.capture!.source()) => {
      const bus = createUpstashLogBus({ url, token, stream: `${keyPrefix}:bus` });
      buses.push(bus);
      const strata = new Strata({
        l2: createUpstashL2({ url, token }),
        l3: stack.l3,
        keyPrefix,
        instanceId,
        schemas: [counters],
        coherence: { bus, pollInterval: 20 },
        ttl: { l1: '10m' },
        capture: { source, relay: shortLeasePlan(leaseMs) },
      });
      opened.push(strata);
      return strata;
    };
    const keys = relayKeys(keyPrefix);
    // A cursor is a snapshot (xmin:xmax:in-progress); its xmax orders cursors: a later read's is
    // never lower, and higher once any transaction began in between.
    const cursor = async () => {
      const stored = await stack.redis.get(keys.cursor);
      return stored === null ? -1n : BigInt(stored.split(':')[1] ?? stored);
    };
    const inRange = `id between ${first} and ${first + 99}`;
    return { keyPrefix, ids, make, keys, cursor, inRange };
  }
  type App = Awaited<ReturnType<typeof app>>;

  /** Postgres as it is: each row of the app with the version `_strata_versions` holds for it. */
  async function postgres({ inRange }: App): Promise<Map<number, { n: number; version: number }>> {
    const { rows } = await stack.pool.query(
      `select c.id, c.n, v.version::int as version from ${table()} c
       join "${stack.name}"._strata_versions v on v.schema = $1 and v.id = c.id::text where c.${inRange}`,
      [counters.identity],
    );
    return new Map(rows.map((r) => [Number(r.id), { n: Number(r.n), version: Number(r.version) }]));
  }

  /** Polls `strata`'s relay until a pass applies (another's lease expires meanwhile), within the deadline. */
  async function relayed(strata: Strata): Promise<PollOutcome> {
    const since = Date.now();
    for (;;) {
      const outcome = await strata.relayChanges();
      if (outcome?.status === 'applied') return outcome;
      expect(outcome?.status).toBe('busy');
      if (Date.now() - since > DEADLINE_MS) throw new Error('the lease never came free');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Every instance reads every row until its L1 holds it (L2 holds it after the first read). */
  async function cacheAll(app: App, instances: readonly Strata[]): Promise<void> {
    const pg = await postgres(app);
    for (const strata of instances)
      for (const id of app.ids) {
        await vi.waitFor(
          async () => {
            expect((await strata.find(counters, id))?.n ?? null).toBe(pg.get(id)?.n ?? null);
            expect(strata.peek(counters, id)?.n ?? null).toBe(pg.get(id)?.n ?? null);
          },
          { timeout: DEADLINE_MS, interval: 10 },
        );
      }
  }

  /** L2 holds no row older than Postgres: every row envelope of the current generation is its version. */
  async function l2NeverOlder(app: App): Promise<number> {
    const pg = await postgres(app);
    const base = `${app.keyPrefix}:${counters.identity}`;
    const generation = Number((await stack.redis.get(`${base}:gen`)) ?? 0);
    let rows = 0;
    for (const key of await stack.redis.keys(`${base}:*:r:*`)) {
      const envelope = decodeEnvelope((await stack.redis.get(key)) ?? '');
      if (!envelope || envelope.generation < generation || envelope.kind !== 'r') continue;
      const id = Number(key.slice(key.lastIndexOf(':') + 1));
      expect({ id, version: envelope.version, n: JSON.parse(envelope.payload).n }).toEqual({
        id,
        ...pg.get(id),
      });
      rows += 1;
    }
    return rows;
  }

  /** Every tier of every instance serves what Postgres holds, for every key (the bus delivers within the deadline). */
  async function agree(app: App, instances: readonly Strata[]): Promise<void> {
    const pg = await postgres(app);
    await vi.waitFor(
      async () => {
        for (const strata of instances)
          for (const id of app.ids) {
            const held = strata.peek(counters, id);
            if (held !== undefined) expect(held?.n ?? null).toBe(pg.get(id)?.n ?? null);
            expect((await strata.find(counters, id))?.n ?? null).toBe(pg.get(id)?.n ?? null);
          }
      },
      { timeout: DEADLINE_MS, interval: 20 },
    );
    await l2NeverOlder(app);
  }

  /**
   * Closes what the tests opened, each close bounded (close() waits for a relay pass in flight, and
   * a failed test may leave one held forever), then always drops the stack's schema and keys.
   */
  async function cleanup(): Promise<void> {
    const bounded = (closing: Promise<unknown>) =>
      Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 3_000).unref())]);
    try {
      await Promise.allSettled(opened.map((s) => bounded(s.close())));
      await Promise.allSettled(buses.map((b) => bounded(b.close())));
    } finally {
      await stack.cleanup(); // the buses' streams live under the stack's name too
    }
  }

  return { stack, counters, outside, app, relayed, cacheAll, l2NeverOlder, agree, cleanup };
}

export type RelayHarness = Awaited<ReturnType<typeof relayHarness>>;
