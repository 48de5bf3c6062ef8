import { createIoredisL2, createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { Strata } from '@strata/core';
import { type ManualClock, manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { type SpawnedRedis, spawnRedisServer } from '@strata/devstack';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { codeOf, type FaultScratch, faultScratch, settleBy, Tally } from '../support/fault-harness.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// Our own redis-server behind a loopback TCP proxy: stopped (SIGKILL by its PID), restarted (a new
// one behind the same proxy address), made slow, frozen and cut, while Strata works through it.
// L3 is the real Postgres, reached directly.

const L2_TIMEOUT = 250;
/** Longest any single call may take under a Redis fault: 8 L2 timeouts (its own, a Postgres round trip, load). */
const DEADLINE = 2_000;
const COOLDOWN = 5_000;

let redis: SpawnedRedis;
let proxy: TcpProxy;
let store: FaultScratch;
const clients: Redis[] = [];
const instances: Strata[] = [];

/** ioredis sends command names in lower case. */
const isXadd = (chunk: Buffer) => /\bxadd\b/i.test(chunk.toString('latin1'));
/** A script call naming `stream` among its keys: the one-round-trip write-behind set queuing there. */
const scriptOn = (stream: string) => (chunk: Buffer) =>
  /evalsha/i.test(chunk.toString('latin1')) && chunk.includes(stream);
const portOf = (url: string) => Number(new URL(url).port);

beforeAll(async () => {
  redis = await spawnRedisServer();
  proxy = await startTcpProxy(portOf(redis.url));
  store = await faultScratch('faults_redis');
});

afterEach(async () => {
  proxy.resume();
  proxy.setLatency(0);
  proxy.refuse(false);
  await Promise.allSettled(instances.splice(0).map((s) => s.close()));
  for (const c of clients.splice(0)) c.disconnect();
});

afterAll(async () => {
  await proxy?.close();
  await store?.cleanup([redis.url]);
  await redis?.stop();
});

/**
 * A Redis client through the proxy that retries its connection quickly, so a restart is seen at once.
 * `db` 1 puts a queue on another database of the same server: not the L2's Redis, so its writes take
 * their own XADD (see "one round trip" below for a queue on the L2's Redis).
 */
function client(db = 0): Redis {
  const c = new Redis(proxy.url(redis.url), {
    db,
    maxRetriesPerRequest: 0,
    protocol: 2,
    retryStrategy: () => 50,
  });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

/** Resolves on the client's next `event` (events.once would reject on the 'error' a reset emits). */
const next = (c: Redis, event: 'ready' | 'close') =>
  new Promise<void>((resolve) => c.once(event, () => resolve()));

async function ready(c: Redis): Promise<void> {
  if (c.status !== 'ready') await next(c, 'ready');
}

function strataOver(
  c: Redis,
  clock: ManualClock,
  options: { writeBehind?: boolean; queueClient?: Redis; stream?: string } = {},
) {
  const strata = new Strata({
    l2: createIoredisL2(c),
    l3: createDrizzleL3(store.db, { migrationsSchema: store.name }),
    clock,
    keyPrefix: store.name,
    timeouts: { l2: L2_TIMEOUT, l3: '5s', queue: '1s' },
    breaker: { failureThreshold: 3, cooldown: COOLDOWN },
    ...(options.writeBehind && {
      // spawnRedisServer runs without AOF: allowVolatile (this suite restarts Redis on purpose).
      writeBehind: {
        queue: createRedisStreamQueue({
          redis: options.queueClient ?? c,
          keyPrefix: store.name,
          allowVolatile: true,
          stream: options.stream ?? `${store.name}:writes`,
          claimIdleMs: 200,
        }),
      },
    }),
    schemas: [store.schema(options.writeBehind ? 'write-behind' : 'write-through')],
  });
  instances.push(strata);
  return strata;
}

describe('Redis stopped and restarted', () => {
  it('reads answer from Postgres, writes commit, the breaker opens, and closes once Redis is back', async () => {
    const t = new Tally('faults', 'redis: stopped (SIGKILL) then restarted, write-through load');
    const schema = store.schema();
    const clock = manualClock(Date.now());
    const c = client();
    await ready(c);
    const strata = strataOver(c, clock);
    let n = 0;
    const write = async (id: string) => {
      const v = ++n;
      const r = await t.run(strata.set(schema, { id, n: v }), DEADLINE);
      expect(codeOf(r), `set ${id}`).toBe('OK');
      t.acked(id, v);
    };
    for (let i = 0; i < 10; i++) await write(`stop-${i}`);

    // Stopped: the process dies with its data; the proxy now leads to a closed port.
    const old = redis;
    process.kill(old.pid, 'SIGKILL');
    await old.stop();
    t.fault();

    for (let round = 0; round < 3; round++) for (let i = 0; i < 10; i++) await write(`stop-${i}`);
    expect(strata.stats().l2Breaker).toMatchObject({ state: 'open', opens: 1 });
    expect(strata.stats().l2Breaker!.rejected).toBeGreaterThan(0);

    // A fresh instance (empty L1) answers every read from Postgres while Redis is down.
    const reader = strataOver(client(), clock);
    const stored = await store.stored();
    for (let i = 0; i < 10; i++) {
      const r = await t.run(reader.get(schema, `stop-${i}`), DEADLINE);
      expect(codeOf(r)).toBe('OK');
      if ('ok' in r && r.ok) expect(r.value.n).toBe(stored.get(`stop-${i}`));
    }
    expect(reader.stats().hits.l3).toBe(10);

    // Restarted: a new redis-server behind the same address. Once the client is connected again and
    // the cool-down is over, the trial call succeeds and the breaker closes.
    redis = await spawnRedisServer();
    proxy.retarget(portOf(redis.url));
    await ready(c);
    clock.advance(COOLDOWN);
    expect(strata.stats().l2Breaker!.state).toBe('half-open');
    await write('after-restart');
    expect(strata.stats().l2Breaker).toMatchObject({ state: 'closed', opens: 1 });

    // That write took its version before this instance knew of the restart, and its reply found it:
    // it left a superseded marker, not its row (the restart may have lost a newer write's copy,
    // which would have refused it: reset-since.ts), so its key is read from Postgres once.
    const third = strataOver(client(), clock);
    const late = await t.run(third.get(schema, 'after-restart'), DEADLINE);
    expect(codeOf(late)).toBe('OK');
    expect(third.stats().hits).toMatchObject({ l2: 0, l3: 1 });
    // L2 is in use again: a write made now puts its row, and another instance reads it from Redis.
    await write('back');
    const r = await t.run(third.get(schema, 'back'), DEADLINE);
    expect(codeOf(r)).toBe('OK');
    expect(third.stats().hits).toMatchObject({ l2: 1, l3: 1 });

    const found = t.found(await store.stored());
    expect(t.missing(await store.stored())).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: found });
  });
});

describe('Redis slow', () => {
  // Redis answers only after SLOW_MS, far past DEADLINE (8 L2 timeouts, beyond what a busy machine
  // adds to a call): a call that waited for Redis would reach it (a hang), however busy the machine.
  const SLOW_MS = 30_000;
  it('latency past the L2 timeout: every call finishes from Postgres by its deadline; the breaker opens and closes', async () => {
    const t = new Tally(
      'faults',
      `redis: ${SLOW_MS} ms latency (timeout ${L2_TIMEOUT} ms), write-through load`,
    );
    const schema = store.schema();
    const clock = manualClock(Date.now());
    const c = client();
    await ready(c);
    const strata = strataOver(c, clock);
    proxy.setLatency(SLOW_MS);
    t.fault();
    let n = 0;
    for (let i = 0; i < 20; i++) {
      const id = `slow-${i % 5}`;
      const v = ++n;
      const w = await t.run(strata.set(schema, { id, n: v }), DEADLINE);
      expect(codeOf(w), `set ${id}=${v}`).toBe('OK');
      t.acked(id, v);
      const r = await t.run(strata.find(schema, `slow-absent-${i}`), DEADLINE);
      expect(codeOf(r), `find slow-absent-${i}`).toBe('OK');
    }
    const stats = strata.stats();
    expect(stats.l2Breaker!.state).toBe('open');
    expect(stats.errorsBy.l2).toBeGreaterThanOrEqual(3);
    // Nothing waited for Redis: what was sent to it in the fault is still in the proxy (due in SLOW_MS),
    // so every call above settled with no reply from Redis (its L2 calls ended by their timeout, counted).
    expect(proxy.queued, 'chunks held on their way to Redis').toBeGreaterThan(0);

    // Latency gone, late replies delivered: after the cool-down the trial closes the breaker.
    proxy.setLatency(0);
    await vi.waitFor(() => expect(proxy.queued).toBe(0), { timeout: 3_000, interval: 20 });
    clock.advance(COOLDOWN);
    const w = await t.run(strata.set(schema, { id: 'slow-0', n: ++n }), DEADLINE);
    expect(codeOf(w)).toBe('OK');
    t.acked('slow-0', n);
    expect(strata.stats().l2Breaker!.state).toBe('closed');

    const stored = await store.stored();
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });
});

describe('Redis frozen (bytes held, connections open)', () => {
  it('write-behind is refused (L2_UNAVAILABLE) by its deadline while Redis is frozen; nothing acknowledged is lost', async () => {
    const t = new Tally('faults', 'redis: frozen, write-behind refused, nothing acknowledged lost');
    const schema = store.schema('write-behind');
    const clock = manualClock(Date.now());
    const c = client();
    await ready(c);
    const strata = strataOver(c, clock, { writeBehind: true, stream: `${store.name}:frozen` });
    for (let i = 0; i < 5; i++) {
      const r = await t.run(strata.set(schema, { id: `queued-${i}`, n: 1 }), DEADLINE);
      expect(codeOf(r)).toBe('OK');
      t.acked(`queued-${i}`, 1);
    }
    proxy.pause();
    t.fault();
    // Nothing can order a write-behind write against those queued before: each is refused, by its
    // deadline, and none reaches Postgres behind the queue's back.
    for (let i = 0; i < 10; i++) {
      const r = await t.run(strata.set(schema, { id: `frozen-${i % 5}`, n: 1 + i }), DEADLINE);
      expect(codeOf(r)).toBe('L2_UNAVAILABLE');
    }
    const during = await store.stored();
    for (let i = 0; i < 5; i++) expect(during.has(`frozen-${i}`)).toBe(false);
    expect(strata.stats().l2Breaker!.state).toBe('open');

    proxy.resume();
    await ready(c);
    clock.advance(10_000); // past the breaker's cool-down
    const back = await t.run(strata.set(schema, { id: 'frozen-0', n: 100 }), DEADLINE);
    expect(codeOf(back)).toBe('OK');
    t.acked('frozen-0', 100);
    const f = await t.run(strata.flushDirty(), 10_000);
    expect(codeOf(f)).toBe('OK');
    const after = await store.stored();
    expect(t.missing(after)).toEqual([]);
    expect(after.get('frozen-0')).toBe(100);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(after) });
  });

  // Versions come from Redis, not clocks: a write acknowledged after the freeze is newer than one
  // queued before it, whichever instance's clock says what, and wins at the flush.
  it('a write acknowledged after Redis came back wins over an older write of the same id still queued', async () => {
    const schema = store.schema('write-behind');
    const c = client();
    await ready(c);
    const clock = manualClock(Date.now());
    const strata = strataOver(c, clock, { writeBehind: true, stream: `${store.name}:older` });
    expect(codeOf(await settleBy(strata.set(schema, { id: 'older', n: 1 }), DEADLINE))).toBe('OK');
    proxy.pause();
    expect(codeOf(await settleBy(strata.set(schema, { id: 'older', n: 2 }), DEADLINE))).toBe(
      'L2_UNAVAILABLE',
    );
    proxy.resume();
    await ready(c);
    clock.advance(10_000);
    expect(codeOf(await settleBy(strata.set(schema, { id: 'older', n: 3 }), DEADLINE))).toBe('OK');
    expect(codeOf(await settleBy(strata.flushDirty(), 10_000))).toBe('OK');
    expect((await store.stored()).get('older')).toBe(3);
  });

  it('flushDirty() and close() settle by a deadline while the queue Redis is frozen', async () => {
    const schema = store.schema('write-behind');
    const c = client();
    await ready(c);
    const strata = strataOver(c, manualClock(Date.now()), {
      writeBehind: true,
      stream: `${store.name}:frozen2`,
    });
    expect(codeOf(await settleBy(strata.set(schema, { id: 'fz', n: 1 }), DEADLINE))).toBe('OK');
    proxy.pause();
    const f = await settleBy(strata.flushDirty(), 3_000);
    proxy.resume();
    expect(codeOf(f)).toBe('QUEUE_UNAVAILABLE');
  });
});

describe('Redis connections cut', () => {
  it('the queue write is cut: the set fails with QUEUE_UNAVAILABLE and leaves no trace in any tier', async () => {
    const t = new Tally('faults', 'redis: XADD cut (write-behind enqueue fails)');
    const schema = store.schema('write-behind');
    const clock = manualClock(Date.now());
    const c = client();
    await ready(c);
    const stream = `${store.name}:cut`;
    const q = client(1);
    await ready(q);
    const strata = strataOver(c, clock, { writeBehind: true, stream, queueClient: q });
    const first = await t.run(strata.set(schema, { id: 'cut-1', n: 1 }), DEADLINE);
    expect(codeOf(first)).toBe('OK');
    t.acked('cut-1', 1);
    const f = await t.run(strata.flushDirty(), 5_000);
    expect(codeOf(f)).toBe('OK');

    // The next XADD never reaches Redis: the connection is reset as it is sent.
    const fired = proxy.trap({ direction: 'up', match: isXadd, action: 'cut' });
    const lost = await t.run(strata.set(schema, { id: 'cut-1', n: 2 }), DEADLINE);
    await fired;
    t.fault();
    expect(codeOf(lost)).toBe('QUEUE_UNAVAILABLE');

    // The refused write is nowhere: not in L1, not in L2 (withdrawn), not in Postgres.
    await ready(c);
    const r = await t.run(strata.get(schema, 'cut-1'), DEADLINE);
    expect(codeOf(r)).toBe('OK');
    if ('ok' in r && r.ok) expect(r.value.n).toBe(1);
    const other = strataOver(client(), clock, { writeBehind: true, stream, queueClient: q });
    const r2 = await t.run(other.get(schema, 'cut-1'), DEADLINE);
    expect(r2).toMatchObject({ ok: true, value: { n: 1 } });

    // Writes after the cut go through the queue again, and flush.
    for (let i = 0; i < 20; i++) {
      const w = await t.run(strata.set(schema, { id: `cut-${i % 4}`, n: 10 + i }), DEADLINE);
      expect(codeOf(w)).toBe('OK');
      t.acked(`cut-${i % 4}`, 10 + i);
      if (i % 7 === 3) {
        // Reset every connection, and let the client reconnect before the next write: a write in
        // the gap would take the write-through fallback, which loses to older queued writes (the
        // fallback bug, tested on its own above).
        const closed = Promise.all([next(c, 'close'), next(q, 'close')]);
        t.fault(proxy.cutAll());
        await closed;
        await Promise.all([ready(c), ready(q)]);
      }
    }
    await ready(c);
    const drained = await t.run(strata.flushDirty(), 10_000);
    expect(codeOf(drained)).toBe('OK');
    const stored = await store.stored();
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });

  it('the queue write is held (Redis stops answering mid-enqueue): the set settles by its queue timeout', async () => {
    const schema = store.schema('write-behind');
    const c = client();
    await ready(c);
    const q = client(1);
    await ready(q);
    const strata = strataOver(c, manualClock(Date.now()), {
      writeBehind: true,
      stream: `${store.name}:held`,
      queueClient: q,
    });
    const fired = proxy.trap({ direction: 'up', match: isXadd, action: 'hold' });
    const r = await settleBy(strata.set(schema, { id: 'held', n: 1 }), 3_000);
    expect(await settleBy(fired, 100)).toEqual({ ok: true, value: undefined });
    proxy.resume();
    expect(codeOf(r)).toBe('QUEUE_UNAVAILABLE');
  });
});

// A queue on the L2's own Redis: the rows and their queue entries are one script (one round trip),
// so a cut or a freeze leaves both or neither, never a pending row no entry will flush.
describe('Redis connection cut, queue on the L2 Redis (one round trip)', () => {
  it('the script is cut on its way: L2_UNAVAILABLE, and neither a row nor a queue entry anywhere', async () => {
    const schema = store.schema('write-behind');
    const clock = manualClock(Date.now());
    const c = client();
    await ready(c);
    const stream = `${store.name}:one-rt-cut`;
    const strata = strataOver(c, clock, { writeBehind: true, stream });
    expect(codeOf(await settleBy(strata.set(schema, { id: 'rt-1', n: 1 }), DEADLINE))).toBe('OK');
    const check = client();
    await ready(check);
    expect(await check.xlen(stream)).toBe(1); // queued by the script itself: no XADD of its own
    const fired = proxy.trap({
      direction: 'up',
      match: scriptOn(stream),
      action: 'cut',
    });
    const lost = await settleBy(strata.set(schema, { id: 'rt-1', n: 2 }), DEADLINE);
    await fired;
    expect(codeOf(lost)).toBe('L2_UNAVAILABLE');
    await ready(c);
    await ready(check);
    expect(await check.xlen(stream)).toBe(1);
    // Another instance reads the pending row from L2 (Postgres has none yet): still the first write.
    const d = client();
    await ready(d);
    const reader = strataOver(d, clock, { writeBehind: true, stream, queueClient: d });
    const seen = await settleBy(reader.get(schema, 'rt-1'), DEADLINE);
    expect(seen, JSON.stringify(seen)).toMatchObject({ ok: true, value: { n: 1 } });
    expect(codeOf(await settleBy(strata.set(schema, { id: 'rt-1', n: 3 }), DEADLINE))).toBe('OK');
    expect(codeOf(await settleBy(strata.flushDirty(), 5_000))).toBe('OK');
    expect((await store.stored()).get('rt-1')).toBe(3);
  });

  it('Redis stops answering mid-script: the set settles by the L2 timeout', async () => {
    const schema = store.schema('write-behind');
    const c = client();
    await ready(c);
    const stream = `${store.name}:one-rt-held`;
    const strata = strataOver(c, manualClock(Date.now()), { writeBehind: true, stream });
    expect(codeOf(await settleBy(strata.set(schema, { id: 'rt-h', n: 1 }), DEADLINE))).toBe('OK');
    const fired = proxy.trap({
      direction: 'up',
      match: scriptOn(stream),
      action: 'hold',
    });
    const r = await settleBy(strata.set(schema, { id: 'rt-h', n: 2 }), 3_000);
    expect(await settleBy(fired, 100)).toEqual({ ok: true, value: undefined });
    proxy.resume();
    expect(codeOf(r)).toBe('L2_UNAVAILABLE');
  });
});
