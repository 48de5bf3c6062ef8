import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import type { CompiledSchema, L3Tier, Strata, Tx } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { expect } from 'vitest';
import { startRedisLink } from './deployment-link.js';
import type { scratchApp } from './scratch-app.js';
import { wrapL3 } from './wrap-l3.js';

/** Generations per era (`GENERATION_ERA`, packages/core/src/l2/envelope.ts): a hard move starts the next. */
export const GENERATION_ERA = 2 ** 24;

/**
 * Two instances of one app for a HARD generation move (a committed write L2 missed that is not sent
 * again, see reliability/test/probe-hard-move-pending.test.ts): A, direct, whose clock `ahead` moves
 * past its 5 s generation refresh, and B, whose link alone to Redis goes through a proxy that
 * `missed` cuts right after Postgres committed B's transaction (or before B's invalidate). `closers`
 * (run after the test, last first) take the link and B's client.
 */
export async function hardMoveRig(
  scratch: ReturnType<typeof scratchApp>,
  schema: CompiledSchema,
  keyPrefix: string,
  closers: (() => Promise<unknown>)[],
) {
  const { redisUrl, raw } = scratch;
  const link = await startRedisLink(Number(new URL(redisUrl).port || 6379), 1_000);
  closers.push(() => link.close());
  const viaProxy = link.client(redisUrl);
  closers.push(async () => viaProxy.disconnect());
  const channel = `${keyPrefix}:bus`;
  const bus = (redis?: typeof viaProxy) =>
    createRedisPubSubBus(redis ? { redis, channel } : { url: redisUrl, channel });
  const clock = { ahead: 0 };
  const a = scratch.strata({
    keyPrefix,
    schemas: [schema],
    coherence: { bus: bus() },
    clock: { now: () => Date.now() + clock.ahead },
  });
  let cutAfterCommit = false;
  const cut = async () => {
    const reconnecting = link.reconnecting();
    link.cut();
    await reconnecting;
  };
  const l3 = createDrizzleL3(scratch.db, { migrationsSchema: scratch.pgName });
  const bL3: L3Tier = wrapL3(l3, {
    write: async (ops) => {
      const outcome = await l3.write(ops);
      if (cutAfterCommit) {
        cutAfterCommit = false;
        await cut();
      }
      return outcome;
    },
  });
  const b = scratch.strata({
    keyPrefix,
    schemas: [schema],
    l2: createIoredisL2(viaProxy),
    l3: bL3,
    coherence: { bus: bus(viaProxy) },
    timeouts: { l2: '300ms' },
  });
  return {
    a,
    b,
    clock,
    /** A new instance of the app (direct, no L1 copies of its own). */
    fresh: (): Strata => scratch.strata({ keyPrefix, schemas: [schema] }),
    /**
     * B commits a write L2 misses: a transaction `fill` fills (cut right after its commit), or an
     * invalidate of `id` while cut; the link comes back. B's next use of the schema moves hard.
     */
    async missed(how: { tx: (tx: Tx) => void } | { invalidate: string }): Promise<void> {
      const errors = b.stats().errorsBy.l2 ?? 0;
      if ('tx' in how) {
        cutAfterCommit = true;
        const tx = b.tx();
        how.tx(tx);
        await tx.commit();
      } else {
        await cut();
        await b.invalidate(schema.name, how.invalidate);
      }
      expect(b.stats().errorsBy.l2, "B's L2 missed the write").toBeGreaterThan(errors);
      link.heal();
      await link.ready(10_000);
    },
    /** The schema's generation as L2 holds it (at least `GENERATION_ERA` once a hard move ran). */
    async generation(): Promise<number> {
      const [key] = await raw.keys(`${keyPrefix}:*.${schema.name}:gen`);
      return Number(await raw.get(key!));
    },
  };
}
