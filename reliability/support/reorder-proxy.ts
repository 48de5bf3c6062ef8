import { once } from 'node:events';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { seededRandom } from '@strata/devstack/seeded-random';

/** Where a request is held: before it is forwarded (Redis runs it later), or its reply (it ran; the client hears later). */
export type HoldAt = 'request' | 'reply';

/** How long one request is held at each side (ms; 0 or undefined: not held). */
export interface Delays {
  request?: number;
  reply?: number;
}

/** One Upstash REST command of a request body: its name (upper case) and arguments, as sent. */
export type Command = readonly [string, ...unknown[]];

/** A held request or reply: `open()` lets it go on. */
export interface Gate {
  /** How many are held at this gate right now. */
  held(): number;
  /** How many this gate has caught since it was made. */
  caught(): number;
  /** The replies (bodies) to the requests this gate caught, once Redis answered them. */
  replies(): readonly string[];
  /** Lets every held one go (and every later one pass, unless `keep`). */
  open(keep?: boolean): void;
}

export interface ReorderProxy {
  /** The proxy's base URL + the target URL's path. */
  readonly url: string;
  /** Random (or chosen) delays for every request from now on; `undefined`: none. */
  delays(plan: ((commands: readonly Command[], path: string) => Delays) | undefined): void;
  /**
   * Holds the requests (or replies) that match, until the gate is opened; at most `limit` of them
   * (the later ones pass). A reply gate's `match` also gets the reply body.
   */
  gate(at: HoldAt, match: Match, limit?: number): Gate;
  /** Requests seen, by first command name (EVALSHA as `EVALSHA:<sha prefix>`). */
  seen(): Record<string, number>;
  close(): Promise<void>;
}

/** The commands of an Upstash REST body: one `[cmd, …]`, or a pipeline / transaction `[[…], …]`. */
export function commandsOf(body: string): Command[] {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (!Array.isArray(parsed) || parsed.length === 0) return [];
    const list = Array.isArray(parsed[0]) ? (parsed as unknown[][]) : [parsed as unknown[]];
    return list.map((c) => [String(c[0]).toUpperCase(), ...c.slice(1)] as Command);
  } catch {
    return [];
  }
}

/**
 * Holds every request and reply through `proxy`, each one time in two, a random 0 to `maxMs`
 * milliseconds, drawn from a seeded PRNG; returns the seed (`REORDER_SEED` replays a failed run's).
 */
export function randomDelays(proxy: ReorderProxy, maxMs: number): number {
  const seed = Number(process.env.REORDER_SEED ?? Date.now() % 100_000);
  const random = seededRandom(seed);
  proxy.delays(() => ({
    request: random() < 0.5 ? random() * maxMs : 0,
    reply: random() < 0.5 ? random() * maxMs : 0,
  }));
  return seed;
}

/** What a gate holds: by the request's commands and path (and, at a reply gate, the reply body). */
export type Match = (commands: readonly Command[], path: string, reply?: string) => boolean;

interface GateState {
  at: HoldAt;
  match: Match;
  limit: number;
  waiting: (() => void)[];
  caught: number;
  replies: string[];
  open: boolean;
}

const readBody = async (req: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A loopback HTTP proxy in front of the devstack's Upstash REST endpoint that makes concurrent
 * requests overtake each other, over the real server: a request held before it is forwarded reaches
 * Redis after one sent later; a reply held after Redis ran the command reaches the client after
 * the reply of one Redis ran later. Each request is on its own upstream connection (no keep-alive),
 * as two concurrent fetches are. Subscriptions (SSE) pass through unheld.
 */
export async function startReorderProxy(target: string): Promise<ReorderProxy> {
  const upstream = new URL(target);
  let plan: ((commands: readonly Command[], path: string) => Delays) | undefined;
  const gates: GateState[] = [];
  const seen: Record<string, number> = {};
  const live = new Set<ServerResponse>();

  const pass = async (
    at: HoldAt,
    commands: readonly Command[],
    path: string,
    ms: number | undefined,
    reply?: string,
  ) => {
    if (ms && ms > 0) await sleep(ms);
    for (const g of gates) {
      if (g.open || g.at !== at || g.caught >= g.limit || !g.match(commands, path, reply)) continue;
      g.caught++;
      await new Promise<void>((resolve) => g.waiting.push(resolve));
      return g; // held once: a later gate does not hold it again
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const path = req.url ?? '/';
    const commands = commandsOf(body.toString('utf8'));
    const first = commands[0];
    const label = first
      ? first[0] === 'EVALSHA'
        ? `EVALSHA:${String(first[1]).slice(0, 8)}`
        : first[0]
      : path;
    seen[label] = (seen[label] ?? 0) + 1;
    const streaming = path.includes('/subscribe');
    const delays = streaming ? {} : (plan?.(commands, path) ?? {});
    const heldBy = streaming ? undefined : await pass('request', commands, path, delays.request);
    const out = request({
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: upstream.host, connection: 'close' },
    });
    out.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `proxy: ${err.message}` }));
    });
    out.end(body);
    const [reply] = (await once(out, 'response')) as [IncomingMessage];
    if (streaming) {
      res.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(res);
      return;
    }
    const replyBody = await readBody(reply);
    heldBy?.replies.push(replyBody.toString('utf8'));
    const replyHeldBy = await pass('reply', commands, path, delays.reply, replyBody.toString('utf8'));
    replyHeldBy?.replies.push(replyBody.toString('utf8'));
    const headers = { ...reply.headers };
    delete headers['transfer-encoding'];
    headers['content-length'] = String(replyBody.length);
    res.writeHead(reply.statusCode ?? 502, headers);
    res.end(replyBody);
  };

  const server = createServer((req, res) => {
    live.add(res);
    res.on('close', () => live.delete(res));
    res.on('error', () => {});
    handle(req, res).catch(() => res.destroy());
  });
  server.on('error', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('reorder proxy: no address');
  const path = upstream.pathname === '/' ? '' : upstream.pathname;

  return {
    url: `http://127.0.0.1:${address.port}${path}`,
    delays(next) {
      plan = next;
    },
    gate(at, match, limit = Number.POSITIVE_INFINITY) {
      const g: GateState = { at, match, limit, waiting: [], caught: 0, replies: [], open: false };
      gates.push(g);
      return {
        held: () => g.waiting.length,
        caught: () => g.caught,
        replies: () => [...g.replies],
        open(keep = false) {
          if (!keep) g.open = true;
          for (const resolve of g.waiting.splice(0)) resolve();
        },
      };
    },
    seen: () => ({ ...seen }),
    async close() {
      for (const g of gates) {
        g.open = true;
        for (const resolve of g.waiting.splice(0)) resolve();
      }
      for (const res of live) res.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
