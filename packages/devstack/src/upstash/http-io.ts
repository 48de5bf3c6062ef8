/**
 * Small HTTP helpers: bounded body reading, JSON replies, auth and the headers Upstash clients rely on.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './commands.js';
import { errorBody } from './encoding.js';

/** Upstash's own limit on one request (10 MB on its common plans). */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

const tooLarge = (limit: number) =>
  new HttpError(413, `ERR request body larger than ${limit} bytes, the most one request may carry`);

/**
 * Reads the whole body, refusing (413) more than `limit` bytes without buffering the excess. `take`
 * reserves each chunk against a budget shared by all requests and throws (an HttpError) past it.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  take: (bytes: number) => void = () => {},
): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const fail = (error: HttpError) => {
      failed = true;
      chunks.length = 0;
      reject(error);
    };
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) return fail(tooLarge(limit));
      try {
        take(chunk.length);
      } catch (error) {
        return fail(error instanceof HttpError ? error : new HttpError(503, String(error)));
      }
      chunks.push(chunk);
    });
    let ended = false;
    req.on('end', () => {
      ended = true;
      if (!failed) resolve(Buffer.concat(chunks, size));
    });
    req.on('error', (error) => {
      failed = true;
      reject(error);
    });
    // A client that hangs up mid-body gets neither 'end' nor always 'error'; don't leave the request pending.
    req.on('close', () => {
      if (ended || failed) return;
      failed = true;
      reject(new HttpError(400, 'ERR request aborted before the body was complete'));
    });
  });
}

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new HttpError(400, `ERR failed to parse the JSON request body: ${reason}`);
  }
}

export function sendJson(res: ServerResponse, status: number, json: string): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

export function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, errorBody(message));
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** `Authorization: Bearer <token>` or `?_token=<token>`, compared in constant time. */
export function isAuthorized(req: IncomingMessage, url: URL, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(header);
  const presented = match?.[1]?.trim() ?? url.searchParams.get('_token');
  if (presented === null || presented === undefined) return false;
  return timingSafeEqual(digest(presented), digest(token));
}

let syncSequence = 0;

/**
 * Headers every reply carries. `@upstash/redis` stores `upstash-sync-token` and sends it back for
 * read-your-writes; one Redis is trivially consistent, so any increasing value keeps it happy.
 * CORS lets browser demos call the endpoint directly.
 */
export function setCommonHeaders(req: IncomingMessage, res: ServerResponse): void {
  syncSequence += 1;
  res.setHeader('upstash-sync-token', String(syncSequence));
  res.setHeader('Access-Control-Allow-Origin', req.headers.origin ?? '*');
  res.setHeader('Access-Control-Expose-Headers', 'upstash-sync-token');
  res.setHeader('Vary', 'Origin');
}

/** CORS preflight: allow whatever headers the browser asks for (the client adds telemetry headers). */
export function sendPreflight(req: IncomingMessage, res: ServerResponse): void {
  const requested = req.headers['access-control-request-headers'];
  res.statusCode = 204;
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', requested ?? 'authorization, content-type, upstash-encoding');
  res.setHeader('Access-Control-Max-Age', '600');
  res.end();
}
