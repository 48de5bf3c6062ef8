import { once } from 'node:events';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

export interface LostReplyProxy {
  /** The proxy's base URL + the target URL's path: hand it to the client under test. */
  readonly url: string;
  /**
   * The next `times` (default 1) requests whose bytes contain `marker` reach the server, their
   * replies do not; later ones pass as any other.
   */
  loseRepliesTo(marker: string, times?: number): void;
  /** How many requests had their reply lost (each one the server received and answered). */
  readonly lost: number;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy in front of an HTTP endpoint (the devstack's Upstash REST) that loses
 * replies: a request carrying the marker is forwarded and run by the server, and when the first
 * byte of its reply comes back the client's socket is destroyed, so the client's `fetch` throws
 * although the command ran. What a connection dropped while the reply is in flight does: a client
 * that sends the request again runs it twice. HTTP/1.1 without pipelining: the bytes after a
 * request are its reply.
 * @example
 * const proxy = await startLostReplyProxy(upstash.url);
 * proxy.loseRepliesTo('my:counter');
 * await redis.incr('my:counter').catch(() => {}); // the counter moved; the client saw an error (or 2)
 */
export async function startLostReplyProxy(target: string): Promise<LostReplyProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  let marker: string | undefined;
  let left = 0;
  let lost = 0;
  const server = createServer((client) => {
    const server = tcpConnect(Number(upstream.port), upstream.hostname);
    for (const s of [client, server]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    let armed = false;
    client.on('data', (chunk: Buffer) => {
      if (left > 0 && marker !== undefined && chunk.includes(marker)) {
        left -= 1;
        armed = true;
      }
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (!armed) {
        client.write(chunk);
        return;
      }
      lost += 1;
      client.destroy();
      server.destroy();
    });
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('lost-reply proxy: no address');
  const path = upstream.pathname === '/' ? '' : upstream.pathname;
  return {
    url: `http://127.0.0.1:${address.port}${path}`,
    loseRepliesTo(next, times = 1) {
      marker = next;
      left = times;
    },
    get lost() {
      return lost;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
