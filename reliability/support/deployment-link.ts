import { Redis } from 'ioredis';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/**
 * One instance's link to Redis (the `redis-link` fault class): its L2, bus and queue connections go
 * through a loopback TCP proxy, so the model can cut them and refuse reconnects while the other
 * instances keep their direct connections.
 *
 * While cut, the clients wait `heldMs` before each reconnect attempt (longer than the instance's L2
 * timeout plus another instance's write): a command ioredis put in its offline queue is still there
 * when the caller's L2 timeout has passed, and is sent when the next attempt succeeds — the
 * interleaving of the late-script defect (regression-late-script.test.ts). Uncut, they reconnect
 * with ioredis' default backoff, as the direct clients do.
 * @example
 * const link = await startRedisLink(redis.port, 2_600);
 * const clients = [link.client(redis.url), …];
 * link.cut(); … link.heal(); await link.ready(10_000);
 */
export interface RedisLink {
  readonly proxy: TcpProxy;
  /** A client through the proxy (same options as the direct ones, plus the link's retryStrategy). */
  client(url: string): Redis;
  /** Resets every connection and refuses new ones; reconnect attempts wait `heldMs` from now on. */
  cut(): void;
  /** New connections are accepted again; later attempts use the default backoff. */
  heal(): void;
  /** Resolves once every client of the link is ready (rejects after `ms`). */
  ready(ms: number): Promise<void>;
  /** Resolves once every client of the link has emitted `reconnecting` (the cut was seen). */
  reconnecting(): Promise<void>;
  close(): Promise<void>;
}

/** ioredis' default reconnect delay. */
const defaultBackoff = (times: number) => Math.min(times * 50, 2_000);

export async function startRedisLink(redisPort: number, heldMs: number): Promise<RedisLink> {
  const proxy = await startTcpProxy(redisPort);
  const clients: Redis[] = [];
  let held = false;
  return {
    proxy,
    client(url) {
      const c = new Redis(proxy.url(url), {
        maxRetriesPerRequest: 0,
        protocol: 2,
        retryStrategy: (times: number) => (held ? heldMs : defaultBackoff(times)),
      } as never);
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    cut() {
      held = true;
      proxy.refuse(true);
      proxy.cutAll();
    },
    heal() {
      held = false;
      proxy.refuse(false);
    },
    async ready(ms) {
      await Promise.all(clients.map((c) => readyWithin(c, ms)));
    },
    reconnecting() {
      // Each client sees the reset on its own; a command sent before ITS close would be failed by
      // that close (maxRetriesPerRequest 0) rather than held: wait for all of them.
      return Promise.all(
        clients.map((c) => new Promise<void>((resolve) => c.once('reconnecting', () => resolve()))),
      ).then(() => undefined);
    },
    async close() {
      held = false;
      await proxy.close();
    },
  };
}

/** Resolves when `c` is ready (at once if it is); rejects after `ms` naming its status. */
export async function readyWithin(c: Redis, ms: number): Promise<void> {
  if (c.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      c.off('ready', onReady);
      reject(new Error(`a Redis connection was not ready again within ${ms} ms (status ${c.status})`));
    }, ms);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    c.once('ready', onReady);
  });
}
