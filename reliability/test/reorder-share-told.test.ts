import { defineSchema, type L2Tier, type L3Tier, type StrataConfig } from '@strata/core';
import { createUpstashL2, createUpstashLogBus } from '@strata/core/upstash';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { GENERATION, MARK } from '../../packages/core/src/l2/scripts.js';
import type { L2Script } from '../../packages/core/src/l2/types.js';
import { settleBy } from '../support/fault-harness.js';
import type { Command } from '../support/reorder-proxy.js';
import { reorderSuite, runsScript } from '../support/reorder-suite.js';
import { wrapL3 } from '../support/wrap-l3.js';

/**
 * Work on the generation that reads join while it is out (a committed write L2 missed, sent again
 * before the next use of L2; the generation read again once L3 named its database, to check the
 * keyPrefix claim) ran in Redis, its reply held; meanwhile another instance's `invalidateAll` is
 * heard (the log bus, polled before every read). A read that began after that `invalidateAll`
 * returned must not take the generation that work read: its rows are the ones `invalidateAll`
 * dropped. BROKE before (generation.ts): the read joined the work and served the row cached before
 * (only a move of the instance's own was waited for and read after: reorder-move-told.test.ts).
 */

/**
 * Past the work's share bound (about this: see `Generation`'s `#shareMs`), a joined read gives up on
 * it; long, so that a read that ends does so by the reply, whatever CI's load (see `toldDuring`).
 */
const L2_TIMEOUT = 30_000;
/** Well below L2_TIMEOUT, far above a reply's round trip: a read woken only by the bound hangs here. */
const HANG = 10_000;

/** A reply (not an error: NOSCRIPT is answered before the EVAL that runs it) of a request running `script`. */
const repliedBy = (script: L2Script) => {
  const runs = runsScript([script]);
  return (commands: readonly Command[], _path: string, reply?: string) =>
    runs(commands) && reply !== undefined && !reply.includes('"error"');
};

describe('a bus message heard while work on the generation is out', () => {
  const suite = reorderSuite('reorder_share_told');
  const stream = uniqueName('reorder_share_told_log');
  afterAll(async () => {
    await new Redis(testDevstack().upstash!).del(stream);
  });

  /**
   * A (L2 and log bus through the proxy, `over` its tiers) and B (direct), on the log bus; `r1` cached
   * as 'v0' by B, then changed to 'after' in Postgres behind the cache.
   */
  async function pair(name: string, over: (via: L2Tier) => Partial<StrataConfig>) {
    const schema = defineSchema({ table: suite.stack.tables.accounts, name });
    const { url, token } = testDevstack().upstash!;
    const make = (via: string, config: Partial<StrataConfig>) => {
      const strata = suite.stack.strata({
        l2: createUpstashL2({ url: via, token }),
        schemas: [schema],
        coherence: { bus: createUpstashLogBus({ url: via, token, stream }), pollInterval: 0 },
        ttl: { l1: '10m' },
        timeouts: { l2: L2_TIMEOUT },
        ...config,
      });
      suite.opened.push(strata);
      return strata;
    };
    const a = make(suite.proxy.url, over(createUpstashL2({ url: suite.proxy.url, token })));
    const b = make(url, {});
    await b.set(schema, { id: 'r1', name: 'v0', level: 0 });
    const behind = () =>
      suite.stack.db
        .update(suite.stack.tables.accounts)
        .set({ name: 'after' })
        .where(eq(suite.stack.tables.accounts.id, 'r1'));
    return { a, b, schema, behind };
  }

  /**
   * `work` (a read on A) sends the request whose reply `held` holds; B invalidates everything; a
   * read of `r1` on A hears it while that reply is held. What that read answers, once the reply
   * ended its wait: pending while the reply was held, settled after it well within the share's bound
   * (not timed against a wall-clock bound, which CI's load stretched).
   */
  async function toldDuring(
    { a, b, schema }: Awaited<ReturnType<typeof pair>>,
    held: ReturnType<typeof repliedBy>,
  ) {
    const gate = suite.proxy.gate('reply', held, 1);
    const work = a.find(schema, 'r9');
    await expect.poll(() => gate.held()).toBe(1);
    const heard = a.stats().invalidationsApplied;
    await b.invalidateAll(schema);
    let settled = false;
    const joined = a.get(schema, 'r1').finally(() => {
      settled = true;
    });
    await expect.poll(() => a.stats().invalidationsApplied).toBeGreaterThan(heard);
    expect(settled, 'the joined read waits while the reply is held').toBe(false);
    gate.open();
    await work;
    const read = await settleBy(joined, HANG);
    if (!('ok' in read && read.ok)) throw new Error(`ended by the reply: ${JSON.stringify(read)}`);
    return read.value.name;
  }

  it('a missed write sent again: the read that joined it does not take the generation it was sent in', async () => {
    const refusePut = { current: false };
    const both = await pair('share_told_repair', (via) => ({
      // L2 misses A's PUTs while `refusePut`.
      l2: {
        name: via.name,
        getMany: (keys) => via.getMany(keys),
        run: (script, keys, args, sendBy) =>
          refusePut.current && script.name === 'put'
            ? Promise.reject(new Error('PUT refused (injected)'))
            : via.run(script, keys, args, sendBy),
        close: () => via.close(),
      },
    }));
    const { a, schema } = both;
    await a.find(schema, 'r1');
    refusePut.current = true;
    await a.set(schema, { id: 'r2', name: 'w', level: 0 }); // committed; sent again before A's next use of L2
    refusePut.current = false;
    await both.behind();
    expect(await toldDuring(both, repliedBy(MARK))).toBe('after');
    expect((await a.get(schema, 'r1')).name).toBe('after');
  });

  it("the claim's recheck read: the read that joined it does not take the generation it found", async () => {
    let named!: () => void;
    const naming = new Promise<void>((resolve) => {
      named = resolve;
    });
    let learnt = false;
    const l3 = suite.stack.l3;
    const both = await pair('share_told_recheck', () => ({
      // A's L3 names its database only once let: A's first generation read goes without it (unchecked).
      l3: wrapL3(l3, {
        identity: () =>
          naming.then(async () => {
            const identity = await (l3 as Required<L3Tier>).identity();
            learnt = true;
            return identity;
          }),
      }),
    }));
    const { a, schema } = both;
    await a.find(schema, 'r0'); // unchecked, past the identity wait
    named();
    await expect.poll(() => learnt).toBe(true);
    await both.behind();
    expect(await toldDuring(both, repliedBy(GENERATION))).toBe('after');
    expect((await a.get(schema, 'r1')).name).toBe('after');
  });
});
