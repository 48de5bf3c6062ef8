import { afterEach, describe, expect, it, vi } from 'vitest';
import { isStrataError } from '../errors.js';
import { backoffDelay, sleep } from './backoff.js';
import { BusDelivery } from './delivery.js';
import { encodeInvalidation } from './message.js';
import type { Invalidation } from './types.js';

const valid = '{"schema":"users","ids":["1"],"op":"set","origin":"o"}';

function handlers() {
  return { message: vi.fn<(inv: Invalidation) => void>(), gap: vi.fn<() => void>() };
}

describe('BusDelivery', () => {
  it('decodes and delivers valid messages, counts and drops the rest', () => {
    const delivery = new BusDelivery('test');
    const h = handlers();
    delivery.attach(h);
    delivery.payload(valid);
    delivery.payload('garbage');
    delivery.payload(undefined);
    delivery.published();
    delivery.gap();
    expect(h.message).toHaveBeenCalledWith({ schema: 'users', ids: ['1'], op: 'set', origin: 'o' });
    expect(h.gap).toHaveBeenCalledTimes(1);
    expect(delivery.stats()).toEqual({ published: 1, received: 1, dropped: 2, gaps: 1 });
  });

  it('with an origin: its own messages are counted as received and dropped unread; every other one is delivered', () => {
    const delivery = new BusDelivery('test');
    const h = handlers();
    delivery.attach({ ...h, origin: 'api-1' });
    const own = encodeInvalidation({ schema: 'users', ids: ['1'], op: 'set', origin: 'api-1' });
    const longer = encodeInvalidation({ schema: 'users', ids: ['2'], op: 'set', origin: 'api-10' });
    // An older publisher's wire form (origin last): decoded, the engine filters it by origin.
    const older = '{"schema":"users","ids":["3"],"op":"set","origin":"api-1"}';
    delivery.payload(own);
    delivery.payload(longer);
    delivery.payload(older);
    expect(h.message.mock.calls.map(([inv]) => inv.ids)).toEqual([['2'], ['3']]);
    expect(delivery.stats()).toEqual({ published: 0, received: 3, dropped: 0, gaps: 0 });
  });

  it('delivers nothing before attach or after close', () => {
    const delivery = new BusDelivery('test');
    delivery.payload(valid);
    delivery.gap();
    const h = handlers();
    delivery.attach(h);
    delivery.close();
    delivery.payload(valid);
    delivery.gap();
    expect(h.message).not.toHaveBeenCalled();
    expect(h.gap).not.toHaveBeenCalled();
    expect(delivery.stats()).toEqual({ published: 0, received: 0, dropped: 0, gaps: 0 });
  });

  it('a throwing handler does not stop the messages after it', () => {
    const delivery = new BusDelivery('test');
    let calls = 0;
    delivery.attach({
      message: () => {
        calls += 1;
        throw new Error('handler bug');
      },
      gap: () => {
        throw new Error('handler bug');
      },
    });
    expect(() => {
      delivery.payload(valid);
      delivery.payload(valid);
      delivery.gap();
    }).not.toThrow();
    expect(calls).toBe(2);
  });

  it('refuses a second attach (INVALID_CONFIG) and anything after close (L2_UNAVAILABLE)', () => {
    const delivery = new BusDelivery('test');
    delivery.attach(handlers());
    expect(() => delivery.attach(handlers())).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    delivery.close();
    for (const op of [() => delivery.attach(handlers()), () => delivery.assertOpen('publish')]) {
      let error: unknown;
      try {
        op();
      } catch (e) {
        error = e;
      }
      expect(isStrataError(error, 'L2_UNAVAILABLE')).toBe(true);
    }
  });

  it('publish counts only what was sent, and sends nothing once closed', async () => {
    const delivery = new BusDelivery('test');
    const sent: string[] = [];
    await delivery.publish({ schema: 'users', ids: ['1'], op: 'set', origin: 'o' }, async (p) => {
      sent.push(p);
    });
    const wireDown = new Error('wire down');
    await expect(
      delivery.publish({ schema: 'users', ids: null, op: 'invalidateAll', origin: 'o' }, () =>
        Promise.reject(wireDown),
      ),
    ).rejects.toBe(wireDown);
    expect(JSON.parse(sent[0] ?? '')).toMatchObject({ schema: 'users', ids: ['1'] });
    expect(delivery.stats().published).toBe(1);
    await delivery.closeOnce();
    const error = await delivery
      .publish({ schema: 'users', ids: ['1'], op: 'set', origin: 'o' }, async (p) => {
        sent.push(p);
      })
      .catch((e: unknown) => e);
    expect(isStrataError(error, 'L2_UNAVAILABLE')).toBe(true);
    expect(sent).toHaveLength(1);
  });

  it('subscribe starts only when it could attach; closeOnce releases once, one promise for all', async () => {
    const delivery = new BusDelivery('test');
    const start = vi.fn(() => Promise.resolve());
    await delivery.subscribe(handlers(), start);
    const second = await delivery.subscribe(handlers(), start).catch((e: unknown) => e);
    expect(isStrataError(second, 'INVALID_CONFIG')).toBe(true);
    expect(start).toHaveBeenCalledTimes(1);
    const release = vi.fn(() => Promise.resolve());
    const first = delivery.closeOnce(release);
    expect(delivery.closed).toBe(true);
    expect(delivery.closeOnce(release)).toBe(first);
    await first;
    expect(release).toHaveBeenCalledTimes(1);
  });
});

describe('backoff', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('doubles from min to max, with the upper half random', () => {
    for (let i = 0; i < 50; i++) {
      const first = backoffDelay(1, 100, 5_000);
      expect(first).toBeGreaterThanOrEqual(50);
      expect(first).toBeLessThanOrEqual(100);
      const third = backoffDelay(3, 100, 5_000);
      expect(third).toBeGreaterThanOrEqual(200);
      expect(third).toBeLessThanOrEqual(400);
      const late = backoffDelay(30, 100, 5_000);
      expect(late).toBeGreaterThanOrEqual(2_500);
      expect(late).toBeLessThanOrEqual(5_000);
    }
  });

  it('sleep resolves after the delay, or at once on abort, leaving no timer', async () => {
    vi.useFakeTimers();
    const lifetime = new AbortController();
    let done = false;
    const slept = sleep(1_000, lifetime.signal).then(() => {
      done = true;
    });
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    lifetime.abort();
    await slept;
    expect(vi.getTimerCount()).toBe(0);
    await sleep(1_000, lifetime.signal); // Already aborted: no timer at all.
    expect(vi.getTimerCount()).toBe(0);
    const finished = sleep(10, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(10);
    await finished;
    expect(vi.getTimerCount()).toBe(0);
  });
});
