import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorReply } from './error-json.js';
import { runSqlRequest } from './run-sql.js';
import type { SessionPool } from './session-pool.js';
import { parseSqlRequest, RequestError } from './sql-request.js';

/** Neon's own limit on a request body. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

// Browsers calling neon() directly send a preflight; answering it keeps local dev like the cloud.
const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers':
    'authorization, content-type, neon-connection-string, neon-raw-text-output, neon-array-mode, ' +
    'neon-batch-isolation-level, neon-batch-read-only, neon-batch-deferrable, neon-pool-opt-in',
  'access-control-max-age': '86400',
};

/**
 * Serves `POST /sql` the way the Neon HTTP API does, for `neon()` and drizzle `neon-http`. An
 * `Authorization` header is accepted and not checked: the backing server does the authentication.
 * @example createServer((req, res) => void handleSqlRequest(sessions, req, res));
 */
export async function handleSqlRequest(
  sessions: SessionPool,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (req.method === 'OPTIONS') {
    res.writeHead(204, CORS_HEADERS).end();
    return;
  }
  try {
    if (req.method !== 'POST') throw new RequestError('only POST is supported on /sql', 405);
    const body = await readBody(req, MAX_BODY_BYTES);
    const reply = await runSqlRequest(sessions, parseSqlRequest(body, req.headers));
    sendJson(res, 200, reply);
  } catch (err) {
    const { status, body } = errorReply(err);
    sendJson(res, status, body);
    // The rest of an oversized body is never read: close rather than leave the socket half-read.
    if (status === 413) res.once('finish', () => req.destroy());
  }
}

/** Replies with JSON unless the client is already gone (e.g. the server is stopping). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...CORS_HEADERS,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...(status === 413 && { connection: 'close' }),
  });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
    // After `end` this rejection is a no-op; before it, the client went away mid-body.
    req.once('close', () => reject(new RequestError('request body ended early')));
  });
}

function tooLarge(limit: number): RequestError {
  return new RequestError(`request body is larger than ${limit} bytes`, 413);
}
