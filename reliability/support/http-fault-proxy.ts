import { once } from 'node:events';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';

/**
 * What the proxy does with a request: pass it through, answer a 5xx itself (the upstream never
 * sees it), or hold it without ever answering (until `close()`).
 */
export type HttpFault = { kind: 'pass' } | { kind: 'status'; status: number } | { kind: 'hang' };

export interface HttpFaultRule {
  fault: HttpFault;
  /** Only requests whose body matches; default all. */
  match?: (body: string, path: string) => boolean;
}

export interface HttpFaultProxyStats {
  requests: number;
  passed: number;
  /** Answered with an injected status. */
  failed: number;
  /** Held without an answer. */
  hung: number;
}

export interface HttpFaultProxy {
  /** The proxy's base URL + the target URL's path, e.g. `http://127.0.0.1:4567/sql`. */
  readonly url: string;
  /** What requests get from now on (one rule, replacing the last). `pass()` is `set({ fault: { kind: 'pass' } })`. */
  set(rule: HttpFaultRule): void;
  pass(): void;
  stats(): HttpFaultProxyStats;
  /** Requests held right now. */
  readonly hanging: number;
  /**
   * Resolves once `n` requests are held at once (at once if they are): a request reaches the proxy
   * on its own time, after its caller timed out when the process is busy, so tests wait for this,
   * never for a length of time.
   */
  held(n: number): Promise<void>;
  /**
   * Resolves once every request forwarded so far (passed through, or released with `forward`) has
   * its whole reply from upstream: a Neon HTTP statement has committed (or failed) by then.
   */
  forwarded(): Promise<void>;
  /**
   * Lets go of every held request: `reset` destroys its connection (the upstream never sees it),
   * `forward` sends it on late (a delayed delivery: what a slow network does). Returns how many.
   */
  release(how: 'reset' | 'forward'): number;
  /** Answers every held request by resetting it, stops listening. */
  close(): Promise<void>;
}

const readBody = async (req: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

/**
 * An HTTP proxy in front of one of the devstack's HTTP endpoints (Upstash REST, Neon SQL over
 * HTTP) that can make it answer 5xx or hang, for real over loopback: the client under test gets a
 * URL of the proxy and sees only HTTP.
 * @example
 * const proxy = await startHttpFaultProxy(upstash.url);
 * const l2 = createUpstashL2({ url: proxy.url, token });
 * proxy.set({ fault: { kind: 'status', status: 503 } });
 */
export async function startHttpFaultProxy(target: string): Promise<HttpFaultProxy> {
  const upstream = new URL(target);
  let rule: HttpFaultRule = { fault: { kind: 'pass' } };
  const held = new Map<ServerResponse, { req: IncomingMessage; body: Buffer }>();
  const stats: HttpFaultProxyStats = { requests: 0, passed: 0, failed: 0, hung: 0 };
  /** `held(n)` calls not answered yet. */
  const waiting = new Set<{ n: number; resolve: () => void }>();
  const wake = () => {
    for (const w of waiting)
      if (held.size >= w.n) {
        waiting.delete(w);
        w.resolve();
      }
  };
  /** Forwarded requests whose reply has not ended yet. */
  const inFlight = new Set<Promise<void>>();

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const ended = new Promise<void>((resolve) => res.on('close', () => resolve()));
    inFlight.add(ended);
    ended.then(() => inFlight.delete(ended));
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (reply) => {
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
      },
    );
    out.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `proxy: ${err.message}` }));
    });
    out.end(body);
  };

  const server = createServer((req, res) => {
    res.on('error', () => {});
    readBody(req).then(
      (body) => {
        stats.requests++;
        const { fault, match } = rule;
        const applies = fault.kind !== 'pass' && (match?.(body.toString('utf8'), req.url ?? '/') ?? true);
        if (!applies) {
          stats.passed++;
          forward(req, res, body);
        } else if (fault.kind === 'status') {
          stats.failed++;
          res.writeHead(fault.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: `injected ${fault.status}`, message: `injected ${fault.status}` }));
        } else {
          stats.hung++;
          held.set(res, { req, body });
          res.on('close', () => held.delete(res));
          wake();
        }
      },
      () => res.destroy(),
    );
  });
  server.on('error', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('http fault proxy: no address');
  const path = upstream.pathname === '/' ? '' : upstream.pathname;

  return {
    url: `http://127.0.0.1:${address.port}${path}`,
    set(next) {
      rule = next;
    },
    pass() {
      rule = { fault: { kind: 'pass' } };
    },
    stats: () => ({ ...stats }),
    get hanging() {
      return held.size;
    },
    held(n) {
      return new Promise<void>((resolve) => {
        waiting.add({ n, resolve });
        wake();
      });
    },
    async forwarded() {
      while (inFlight.size > 0) await Promise.all(inFlight);
    },
    release(how) {
      const all = [...held];
      held.clear();
      for (const [res, { req, body }] of all) {
        if (how === 'reset') res.destroy();
        else forward(req, res, body);
      }
      return all.length;
    },
    async close() {
      for (const res of held.keys()) res.destroy();
      held.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
