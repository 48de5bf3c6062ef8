import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';

/** `up`: client -> server bytes. `down`: server -> client bytes. */
export type Direction = 'up' | 'down';

/**
 * A one-shot trap on the bytes of a connection. When a chunk going `direction` matches:
 * - `cut`: the chunk is dropped and the connection reset (the server never sees it);
 * - `cut-on-reply`: the chunk is forwarded, then the first chunk coming back is dropped and the
 *   connection reset (the server acted, the client never hears the outcome);
 * - `hold`: the chunk and everything after it on that connection are held until `resume()`.
 */
export interface Trap {
  direction: Direction;
  match: (chunk: Buffer) => boolean;
  action: 'cut' | 'cut-on-reply' | 'hold';
}

export interface TcpProxyStats {
  /** Connections accepted and forwarded. */
  connections: number;
  /** Connections refused while `refuse(true)`. */
  refused: number;
  /** Connections reset by `cutAll()` or a trap. */
  cut: number;
  /** Traps that fired. */
  trapsFired: number;
}

export interface TcpProxy {
  readonly port: number;
  /** The proxy's address with the target's scheme, path and credentials, e.g. `redis://127.0.0.1:4567`. */
  url(target: string): string;
  /** Stops forwarding in both directions on every connection; bytes are held, none lost. */
  pause(): void;
  /** Forwards what was held, in order, and carries on. */
  resume(): void;
  /**
   * Delays every chunk by `ms` after it arrived (order kept), the chunks waiting now too: a lower
   * latency delivers what has waited that long at once. 0 = none.
   */
  setLatency(ms: number): void;
  /** Resets every open connection. New ones are still accepted unless `refuse(true)`. */
  cutAll(): number;
  /** While true, new connections are reset at once (the port still listens). */
  refuse(on: boolean): void;
  /** Arms a one-shot trap (see {@link Trap}); resolves when it fires. */
  trap(trap: Trap): Promise<void>;
  /** Open connections now. */
  readonly open: number;
  /** Chunks waiting in the proxy (held, paused or delayed). */
  readonly queued: number;
  stats(): TcpProxyStats;
  /** New connections go to this port from now on (a server restarted elsewhere); open ones stay. */
  retarget(port: number): void;
  /** Stops listening, resets every connection, clears every timer. */
  close(): Promise<void>;
}

interface Pending {
  chunk: Buffer;
  /** When it reached the proxy: due at this plus the latency in force when it is pumped. */
  at: number;
}

class Pipe {
  readonly queue: Pending[] = [];
  timer: NodeJS.Timeout | undefined;
  held = false;

  constructor(
    readonly to: Socket,
    readonly proxy: ProxyState,
  ) {}

  push(chunk: Buffer): void {
    this.queue.push({ chunk, at: Date.now() });
    this.pump();
  }

  pump(): void {
    if (this.timer) return;
    while (this.queue.length > 0 && !this.held && !this.proxy.paused && !this.to.destroyed) {
      const head = this.queue[0]!;
      const wait = head.at + this.proxy.latencyMs - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        return;
      }
      this.queue.shift();
      this.to.write(head.chunk);
    }
  }

  /** Pumps again on the latency in force now (its timer was set for the one before). */
  repump(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pump();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

interface Pair {
  client: Socket;
  server: Socket;
  up: Pipe;
  down: Pipe;
  /** Set by a `cut-on-reply` trap: the next chunk coming down resets the connection. */
  cutOnReply: boolean;
}

interface ProxyState {
  paused: boolean;
  latencyMs: number;
}

/**
 * A loopback TCP proxy in front of a real server (Redis, Postgres), to inject faults for real: the
 * client under test talks to the proxy's port and sees exactly what a slow, frozen, crashing or
 * unreachable server looks like on the wire.
 * @example
 * const proxy = await startTcpProxy(6379);
 * const redis = new Redis(proxy.url('redis://127.0.0.1:6379'));
 * proxy.pause();   // commands hang
 * proxy.cutAll();  // connections reset
 * await proxy.close();
 */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const state: ProxyState = { paused: false, latencyMs: 0 };
  const pairs = new Set<Pair>();
  const traps: { trap: Trap; fired: () => void }[] = [];
  const stats: TcpProxyStats = { connections: 0, refused: 0, cut: 0, trapsFired: 0 };
  let refusing = false;
  let port = targetPort;

  const reset = (pair: Pair) => {
    if (!pairs.delete(pair)) return;
    pair.up.stop();
    pair.down.stop();
    pair.client.resetAndDestroy();
    pair.server.resetAndDestroy();
  };

  const fire = (pair: Pair, direction: Direction, chunk: Buffer): boolean => {
    const i = traps.findIndex(({ trap }) => trap.direction === direction && trap.match(chunk));
    if (i < 0) return false;
    const [{ trap, fired }] = traps.splice(i, 1) as [(typeof traps)[number]];
    stats.trapsFired++;
    fired();
    if (trap.action === 'cut') {
      stats.cut++;
      reset(pair);
    } else if (trap.action === 'cut-on-reply') {
      pair.cutOnReply = true;
      (direction === 'up' ? pair.up : pair.down).push(chunk);
    } else {
      const pipe = direction === 'up' ? pair.up : pair.down;
      pipe.held = true;
      pipe.push(chunk);
    }
    return true;
  };

  const server = createServer((client) => {
    client.on('error', () => {});
    if (refusing) {
      stats.refused++;
      client.resetAndDestroy();
      return;
    }
    stats.connections++;
    const upstream = createConnection({ host: targetHost, port });
    upstream.on('error', () => {});
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    const pair: Pair = {
      client,
      server: upstream,
      up: new Pipe(upstream, state),
      down: new Pipe(client, state),
      cutOnReply: false,
    };
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (!fire(pair, 'up', chunk)) pair.up.push(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (pair.cutOnReply) {
        stats.cut++;
        reset(pair);
        return;
      }
      if (!fire(pair, 'down', chunk)) pair.down.push(chunk);
    });
    // Either side going away takes the other with it, as a real server or client would.
    const end = () => {
      if (!pairs.delete(pair)) return;
      pair.up.stop();
      pair.down.stop();
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  });
  server.on('error', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('tcp proxy: no address');
  const pumpAll = () => {
    for (const p of pairs) {
      p.up.pump();
      p.down.pump();
    }
  };

  return {
    port: address.port,
    url(target) {
      const u = new URL(target);
      u.hostname = '127.0.0.1';
      u.port = String(address.port);
      return u.toString();
    },
    pause() {
      state.paused = true;
    },
    resume() {
      state.paused = false;
      for (const p of pairs) {
        p.up.held = false;
        p.down.held = false;
      }
      pumpAll();
    },
    setLatency(ms) {
      state.latencyMs = ms;
      for (const p of pairs) {
        p.up.repump();
        p.down.repump();
      }
    },
    cutAll() {
      const n = pairs.size;
      for (const p of [...pairs]) reset(p);
      stats.cut += n;
      return n;
    },
    refuse(on) {
      refusing = on;
    },
    trap(trap) {
      return new Promise<void>((fired) => traps.push({ trap, fired }));
    },
    get open() {
      return pairs.size;
    },
    get queued() {
      let n = 0;
      for (const p of pairs) n += p.up.queue.length + p.down.queue.length;
      return n;
    },
    stats: () => ({ ...stats }),
    retarget(next) {
      port = next;
    },
    async close() {
      refusing = true;
      traps.length = 0;
      for (const p of [...pairs]) reset(p);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
