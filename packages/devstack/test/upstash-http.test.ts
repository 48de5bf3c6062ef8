import { connect } from 'node:net';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceUrls, uniqueName } from '../src/testing/env.js';
import type { UpstashEndpoint } from '../src/types.js';
import { startUpstashServer } from '../src/upstash/server.js';

const token = 'test-token-http';
const prefix = `${uniqueName('upstash_http')}:`;
let endpoint: UpstashEndpoint;
let redis: Redis;
let direct: Redis;

beforeAll(async () => {
  endpoint = await startUpstashServer({ redisUrl: serviceUrls().redisUrl, token });
  redis = new Redis({ url: endpoint.url, token, enableTelemetry: false });
  direct = new Redis({ url: endpoint.url, token, enableTelemetry: false, enableAutoPipelining: false });
});

afterAll(async () => {
  if (redis) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await endpoint?.stop();
});

function raw(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${endpoint.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('HTTP protocol edges', () => {
  it('wrong or missing token -> 401 Unauthorized, surfaced by the client', async () => {
    const wrong = new Redis({ url: endpoint.url, token: 'wrong', enableTelemetry: false });
    await expect(wrong.get(`${prefix}x`)).rejects.toThrow(/^Unauthorized/);
    const missing = await fetch(`${endpoint.url}/`, { method: 'POST', body: '["PING"]' });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ error: 'Unauthorized' });
  });

  it('accepts the token as ?_token= and commands in the URL path', async () => {
    const key = `${prefix}${uniqueName('path')}`;
    const set = await fetch(`${endpoint.url}/set/${encodeURIComponent(key)}/a%20b?EX=60&_token=${token}`);
    expect(await set.json()).toEqual({ result: 'OK' });
    const get = await fetch(`${endpoint.url}/get/${encodeURIComponent(key)}?_token=${token}`);
    expect(await get.json()).toEqual({ result: 'a b' });
    expect(await redis.ttl(key)).toBeGreaterThan(58);
    // A POST body is the last argument, as raw bytes.
    const post = await raw(`/set/${encodeURIComponent(key)}`, 'body value');
    expect(await post.json()).toEqual({ result: 'OK' });
    expect(await redis.get(key)).toBe('body value');
  });

  it('malformed bodies -> 400 {"error"} and the server keeps serving', async () => {
    for (const body of ['{not json', '{"a":1}', '[]', '[{"x":1}]', '[null]', '[[]]']) {
      const response = await raw('/', body);
      expect(response.status, body).toBe(400);
      const json = (await response.json()) as { error?: unknown };
      expect(typeof json.error, body).toBe('string');
    }
    for (const body of ['[["GET"]', '["GET","k"]', '[]', '{}']) {
      expect((await raw('/pipeline', body)).status, body).toBe(400);
    }
    expect(await direct.ping()).toBe('PONG');
  });

  it('survives garbage HTTP and clients hanging up mid-body', async () => {
    const { hostname, port } = new URL(endpoint.url);
    const exchange = (payload: string, hangUp: boolean) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () => {
          socket.write(payload);
          if (hangUp) socket.destroy();
        });
        let received = '';
        socket.on('data', (chunk) => {
          received += chunk.toString();
        });
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });
    expect(await exchange('NOT HTTP AT ALL\r\n\r\n', false)).toMatch(/^HTTP\/1\.1 400/);
    const truncated = `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 100\r\n\r\n["SET"`;
    expect(await exchange(truncated, true)).toBe('');
    expect(await direct.ping()).toBe('PONG');
  });

  it('a Redis error on a single command -> 400 {"error"}', async () => {
    const response = await raw('/', ['GET']);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/^ERR wrong number of arguments/);
  });

  it('rejects connection-state commands on the shared connection', async () => {
    for (const command of [
      ['SELECT', '1'],
      ['MULTI'],
      ['SUBSCRIBE', 'c'],
      ['QUIT'],
      ['CLIENT', 'REPLY', 'OFF'],
    ]) {
      const response = await raw('/', command);
      expect(response.status, command.join(' ')).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(/not supported over REST/);
    }
    await expect(direct.exec(['select', '2'])).rejects.toThrow(/SELECT is not supported/);
    expect(await direct.ping()).toBe('PONG');
  });

  it('bodies over the limit -> 413', async () => {
    const small = await startUpstashServer({ redisUrl: serviceUrls().redisUrl, token, maxBodyBytes: 1024 });
    try {
      const response = await fetch(`${small.url}/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(['SET', `${prefix}big`, 'x'.repeat(2048)]),
      });
      expect(response.status).toBe(413);
      expect(((await response.json()) as { error: string }).error).toMatch(/larger than 1024 bytes/);
      expect(await redis.exists(`${prefix}big`)).toBe(0);
    } finally {
      await small.stop();
    }
  });

  it('echoes an upstash-sync-token the client can send back', async () => {
    const response = await raw('/', ['PING']);
    expect(response.headers.get('upstash-sync-token')).toMatch(/\S/);
    const withToken = await raw('/', ['PING'], {
      'upstash-sync-token': response.headers.get('upstash-sync-token')!,
    });
    expect(await withToken.json()).toEqual({ result: 'PONG' });
  });
});
