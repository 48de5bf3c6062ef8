/**
 * `POST /subscribe/<channel>` and `POST /psubscribe/<pattern>` as Server-Sent Events, the way
 * `@upstash/redis` consumes them: it reads lines starting with `data: ` and splits them on commas:
 *   data: subscribe,<channel>,<count>          data: psubscribe,<pattern>,<count>
 *   data: message,<channel>,<payload>          data: pmessage,<pattern>,<channel>,<payload>
 * Payloads are plain UTF-8 text (never base64). Each request gets its own ioredis subscriber, closed when the
 * HTTP client goes away or the server stops.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RedisConnections } from './connections.js';
import { sendError } from './http-io.js';

/** Comment lines keep idle streams alive through proxies and undici's body timeout; the client ignores them. */
const KEEPALIVE_MS = 15_000;

interface SubscriptionRequest {
  connections: RedisConnections;
  /** A channel name, or a glob pattern when `pattern` is true. */
  target: string;
  pattern: boolean;
  /** Hands over the function that ends this stream (for `stop()`); returns its deregistration. */
  register(end: () => void): () => void;
}

/** An SSE `data:` event. A payload with line breaks becomes several `data:` lines (the client sees the first). */
function event(data: string): string {
  return `${data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}`)
    .join('\n')}\n\n`;
}

export async function serveSubscription(
  req: IncomingMessage,
  res: ServerResponse,
  { connections, target, pattern, register }: SubscriptionRequest,
): Promise<void> {
  const subscriber = connections.open('subscriber');
  // Messages can arrive in the same socket read as the subscribe confirmation, before the header is written.
  let pending: string[] | undefined = [];
  const write = (data: string) => {
    if (pending) pending.push(data);
    else if (!res.writableEnded) res.write(event(data));
  };
  if (pattern) {
    subscriber.on('pmessageBuffer', (matched: Buffer, channel: Buffer, message: Buffer) => {
      write(`pmessage,${matched.toString('utf8')},${channel.toString('utf8')},${message.toString('utf8')}`);
    });
  } else {
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      write(`message,${channel.toString('utf8')},${message.toString('utf8')}`);
    });
  }

  let closed = false;
  const end = () => {
    if (closed) return;
    closed = true;
    void connections.close(subscriber);
    // Before the stream opened the client still reads a status: make it an error it can surface.
    if (!res.headersSent) sendError(res, 503, 'ERR the Redis subscriber connection closed');
    else if (!res.writableEnded) res.end();
  };
  // The client went away (aborted fetch, `unsubscribe()`), Redis dropped the subscriber, or the server stops.
  const unregister = register(end);
  subscriber.on('end', end);
  res.once('close', () => {
    end();
    unregister();
  });

  let count: unknown;
  try {
    count = pattern ? await subscriber.psubscribe(target) : await subscriber.subscribe(target);
  } catch (error) {
    if (closed) return;
    closed = true;
    void connections.close(subscriber);
    sendError(res, 500, `ERR could not subscribe: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  if (closed) return;

  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write(event(`${pattern ? 'psubscribe' : 'subscribe'},${target},${String(count)}`));
  const queued = pending;
  pending = undefined;
  for (const data of queued) res.write(event(data));

  const keepalive = setInterval(() => {
    if (!res.writableEnded) res.write(': keepalive\n\n');
  }, KEEPALIVE_MS);
  keepalive.unref();
  res.once('close', () => clearInterval(keepalive));
  req.socket.setTimeout(0);
}
