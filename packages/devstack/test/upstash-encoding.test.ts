import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceUrls, uniqueName } from '../src/testing/env.js';
import type { UpstashEndpoint } from '../src/types.js';
import { startUpstashServer } from '../src/upstash/server.js';

const token = 'test-token-encoding';
const prefix = `${uniqueName('upstash_enc')}:`;
let endpoint: UpstashEndpoint;
let redis: Redis;

beforeAll(async () => {
  endpoint = await startUpstashServer({ redisUrl: serviceUrls().redisUrl, token });
  redis = new Redis({ url: endpoint.url, token, enableTelemetry: false });
});

afterAll(async () => {
  if (redis) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await endpoint?.stop();
});

const key = (label: string) => `${prefix}${uniqueName(label)}`;
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

async function post(
  path: string,
  body: unknown,
  base64: boolean,
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${endpoint.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, ...(base64 && { 'upstash-encoding': 'base64' }) },
    body: Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

const tricky = [
  'emoji 😀🎉👩‍👩‍👧',
  'CJK 中文 日本語 한국어',
  'NUL a\u0000b\u0000',
  'quotes "\'\\ and\nnewlines\r\t',
  '42',
  '',
];

describe('values round-trip through @upstash/redis', () => {
  it.each(tricky)('default client (base64 responses): %j', async (value) => {
    const k = key('rt');
    await redis.set(k, value);
    const read = await redis.get(k);
    // Default deserialization JSON-parses what it can: '42' comes back as a number.
    expect(read).toEqual(value === '42' ? 42 : value);
  });

  it.each(tricky)('automaticDeserialization: false returns exact strings: %j', async (value) => {
    const plain = new Redis({
      url: endpoint.url,
      token,
      enableTelemetry: false,
      automaticDeserialization: false,
    });
    const k = key('rtraw');
    await plain.set(k, value);
    expect(await plain.get(k)).toBe(value);
    expect(await plain.mget(k, `${k}:missing`)).toEqual([value, null]);
  });

  it('responseEncoding: false (plain UTF-8 responses) also round-trips unicode', async () => {
    const plain = new Redis({ url: endpoint.url, token, enableTelemetry: false, responseEncoding: false });
    const k = key('utf8');
    await plain.hset(k, { '😀': '中文', n: 'NUL\u0000' });
    expect(await plain.hgetall(k)).toEqual({ '😀': '中文', n: 'NUL\u0000' });
  });

  it('JSON values stay structured with automatic deserialization', async () => {
    const k = key('json');
    const value = { text: 'héllo 😀', nested: [1, null, { ok: true }] };
    await redis.set(k, value);
    expect(await redis.get(k)).toEqual(value);
  });
});

describe('the wire format', () => {
  it('base64: every string is encoded, recursively; numbers and nulls are not', async () => {
    const k = key('wire');
    expect(await post('/', ['SET', k, 'v😀'], true)).toEqual({ status: 200, json: { result: 'OK' } });
    expect((await post('/', ['GET', k], true)).json).toEqual({ result: b64('v😀') });
    expect((await post('/', ['MGET', k, `${k}:none`], true)).json).toEqual({ result: [b64('v😀'), null] });
    expect((await post('/', ['STRLEN', k], true)).json).toEqual({ result: 5 });
    // Status replies other than a top-level OK are encoded too: the client base64-decodes them.
    expect((await post('/', ['TYPE', k], true)).json).toEqual({ result: b64('string') });
    expect((await post('/', ['PING'], true)).json).toEqual({ result: b64('PONG') });
    // Inside arrays the client decodes every string, so "OK" must be encoded there.
    const script = "return {'OK', 7, {'deep'}, redis.status_reply('OK')}";
    expect((await post('/', ['EVAL', script, '0'], true)).json).toEqual({
      result: [b64('OK'), 7, [b64('deep')], b64('OK')],
    });
    expect((await post('/', ['GET', k], false)).json).toEqual({ result: 'v😀' });
  });

  it('pipeline and multi-exec results are encoded per entry, errors never', async () => {
    const k = key('wirepipe');
    const commands = [
      ['SET', k, 'x'],
      ['GET', k],
      ['INCR', k],
      ['LRANGE', `${k}:none`, '0', '-1'],
    ];
    for (const path of ['/pipeline', '/multi-exec']) {
      const { status, json } = await post(path, commands, true);
      expect(status).toBe(200);
      expect(json).toEqual([
        { result: 'OK' },
        { result: b64('x') },
        { error: 'ERR value is not an integer or out of range' },
        { result: [] },
      ]);
    }
  });

  it('is binary-safe: invalid UTF-8 and NUL bytes come back byte-exact as base64', async () => {
    const k = key('bin');
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x41, 0xed, 0xa0, 0x80]);
    // The URL form appends a POST body as the last argument, as raw bytes.
    expect(await post(`/set/${encodeURIComponent(k)}`, bytes, true)).toEqual({
      status: 200,
      json: { result: 'OK' },
    });
    const { json } = await post('/', ['GET', k], true);
    expect(Buffer.from((json as { result: string }).result, 'base64')).toEqual(bytes);
    expect((await post('/', ['STRLEN', k], true)).json).toEqual({ result: bytes.length });

    const hash = key('binhash');
    await post('/', ['HSET', hash, 'field', 'plain'], true);
    await post(`/hset/${encodeURIComponent(hash)}/binary`, bytes, true);
    const all = (await post('/', ['HGETALL', hash], true)).json as { result: string[] };
    const decoded = all.result.map((item) => Buffer.from(item, 'base64'));
    const index = decoded.findIndex((item) => item.toString() === 'binary');
    expect(decoded[index + 1]).toEqual(bytes);

    // Without base64 the reply is UTF-8 text, invalid sequences replaced.
    const text = (await post('/', ['GET', k], false)).json as { result: string };
    expect(text.result).toBe(bytes.toString('utf8'));
    expect(text.result).toContain('\uFFFD');
  });
});
