import { once } from 'node:events';
import { neon, neonConfig } from '@neondatabase/serverless';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { neonLocalConfig } from '../src/neon/client-config.js';
import { MAX_BODY_BYTES } from '../src/neon/http-sql.js';
import { startNeonServer } from '../src/neon/server.js';
import { freePort } from '../src/net.js';
import { serviceUrls, uniqueName } from '../src/testing/env.js';
import type { NeonEndpoint } from '../src/types.js';

const { databaseUrl } = serviceUrls();
const appName = uniqueName('neon_server');

let endpoint: NeonEndpoint;
let direct: pg.Client;

beforeAll(async () => {
  endpoint = await startNeonServer({ databaseUrl, maxConnections: 2 });
  Object.assign(neonConfig, neonLocalConfig(endpoint));
  direct = new pg.Client({ connectionString: databaseUrl });
  await direct.connect();
});

afterAll(async () => {
  await direct?.end();
  await endpoint?.stop();
});

/** POST /sql by hand, with the headers neon() sends unless overridden. */
async function post(
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(endpoint.httpUrl, {
    method: 'POST',
    body,
    headers: {
      'Neon-Connection-String': endpoint.connectionString,
      'Neon-Raw-Text-Output': 'true',
      'Neon-Array-Mode': 'true',
      ...headers,
    },
  });
  return { status: response.status, json: await response.json() };
}

async function stillServes(): Promise<void> {
  const rows = await neon(endpoint.connectionString)`select ${'alive'}::text as state`;
  expect(rows).toEqual([{ state: 'alive' }]);
}

describe('the HTTP SQL endpoint on bad input', () => {
  it('answers malformed JSON with 400 and keeps serving', async () => {
    expect(await post('{"query": "select 1"')).toEqual({
      status: 400,
      json: { message: 'request body is not valid JSON' },
    });
    await stillServes();
  });

  it.each([
    ['[]', 'request body must be a JSON object'],
    ['{}', 'body must be an object with a string "query"'],
    ['{"query": 1}', 'body must be an object with a string "query"'],
    ['{"query": "select 1", "params": "1"}', 'body.params must be an array'],
    ['{"queries": {"query": "select 1"}}', '"queries" must be an array'],
    ['{"queries": [{"query": "select 1"}, {}]}', 'queries[1] must be an object with a string "query"'],
  ])('rejects the body %s with a clear 400', async (body, message) => {
    expect(await post(body)).toEqual({ status: 400, json: { message } });
  });

  it('rejects missing or bad Neon headers with 400', async () => {
    const query = JSON.stringify({ query: 'select 1', params: [] });
    expect(await post(query, { 'Neon-Connection-String': '' })).toEqual({
      status: 400,
      json: { message: 'missing Neon-Connection-String header' },
    });
    expect((await post(query, { 'Neon-Connection-String': 'mysql://u@h/db' })).status).toBe(400);
    const batch = JSON.stringify({ queries: [{ query: 'select 1', params: [] }] });
    const badLevel = await post(batch, { 'Neon-Batch-Isolation-Level': 'Snapshot; drop table x' });
    expect(badLevel.status).toBe(400);
    expect(badLevel.json).toEqual({ message: expect.stringContaining('Neon-Batch-Isolation-Level must be') });
    expect(await post(batch, { 'Neon-Batch-Read-Only': 'yes' })).toEqual({
      status: 400,
      json: { message: 'neon-batch-read-only must be true or false, not yes' },
    });
  });

  it('answers an oversized body with 413 and keeps serving', async () => {
    const body = JSON.stringify({ query: `select '${'x'.repeat(MAX_BODY_BYTES)}'`, params: [] });
    expect(await post(body)).toEqual({
      status: 413,
      json: { message: `request body is larger than ${MAX_BODY_BYTES} bytes` },
    });
    await stillServes();
  });

  it('answers other methods and paths with 405 and 404', async () => {
    const get = await fetch(endpoint.httpUrl);
    expect(get.status).toBe(405);
    const elsewhere = await fetch(new URL('/nowhere', endpoint.httpUrl), { method: 'POST', body: '{}' });
    expect(elsewhere.status).toBe(404);
    const preflight = await fetch(endpoint.httpUrl, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('neon-connection-string');
  });
});

describe('the HTTP SQL reply format', () => {
  it('sends Postgres errors as 400 with every field as the client reads them', async () => {
    const { status, json } = await post(JSON.stringify({ query: 'select 1 from from', params: [] }));
    expect(status).toBe(400);
    expect(json).toMatchObject({
      message: 'syntax error at or near "from"',
      code: '42601',
      severity: 'ERROR',
      position: '15',
      routine: expect.any(String),
    });
  });

  it('sends text rows with fields in array mode, and typed objects without raw text', async () => {
    const query = JSON.stringify({
      query:
        "select 1 as n, true as b, '9007199254740993'::int8 as big, '{\"a\":1}'::jsonb as j, null::text as z",
      params: [],
    });
    const raw = await post(query);
    expect(raw).toEqual({
      status: 200,
      json: {
        command: 'SELECT',
        rowCount: 1,
        rowAsArray: true,
        rows: [['1', 't', '9007199254740993', '{"a": 1}', null]],
        fields: [
          expect.objectContaining({ name: 'n', dataTypeID: 23, format: 'text' }),
          expect.objectContaining({ name: 'b', dataTypeID: 16 }),
          expect.objectContaining({ name: 'big', dataTypeID: 20 }),
          expect.objectContaining({ name: 'j', dataTypeID: 3802 }),
          expect.objectContaining({ name: 'z', dataTypeID: 25 }),
        ],
      },
    });
    const typed = await post(query, { 'Neon-Array-Mode': 'false', 'Neon-Raw-Text-Output': 'false' });
    expect(typed.json).toMatchObject({
      rowAsArray: false,
      rows: [{ n: 1, b: true, big: '9007199254740993', j: { a: 1 }, z: null }],
    });
  });

  it('accepts an auth token (the backing server does the authentication)', async () => {
    const rows = await neon(endpoint.connectionString, { authToken: 'any-local-token' })`select 1 as one`;
    expect(rows).toEqual([{ one: 1 }]);
  });
});

describe('the HTTP SQL endpoint under failures', () => {
  it('survives an idle pooled connection being killed', async () => {
    const url = new URL(endpoint.connectionString);
    url.searchParams.set('application_name', `${appName}_idle`);
    const sql = neon(url.toString());
    expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
    const { rows } = await direct.query(
      'select pg_terminate_backend(pid) as done from pg_stat_activity where application_name = $1',
      [`${appName}_idle`],
    );
    expect(rows).toEqual([{ done: true }]);
    // The pool drops the dead client on its `error` event; an unhandled one would end this process.
    await vi.waitFor(async () => expect(await sql`select 2 as two`).toEqual([{ two: 2 }]));
  });

  it('survives a client that goes away mid-query', async () => {
    const url = new URL(endpoint.connectionString);
    url.searchParams.set('application_name', `${appName}_abort`);
    const abort = new AbortController();
    const sql = neon(url.toString(), { fetchOptions: { signal: abort.signal } });
    const pending = sql`select pg_sleep(0.5)`.catch((err: unknown) => err);
    await vi.waitFor(async () => {
      const { rows } = await direct.query('select state from pg_stat_activity where application_name = $1', [
        `${appName}_abort`,
      ]);
      expect(rows).toEqual([{ state: 'active' }]);
    });
    abort.abort();
    expect(String(await pending)).toContain('abort');
    await stillServes();
  });

  it('reports an unreachable backing Postgres without crashing', async () => {
    const nowhere = new URL(databaseUrl);
    nowhere.hostname = '127.0.0.1';
    nowhere.port = String(await freePort());
    const broken = await startNeonServer({ databaseUrl: nowhere.toString() });
    try {
      Object.assign(neonConfig, neonLocalConfig(broken));
      const err = await neon(broken.connectionString)`select 1`.catch((e: unknown) => e);
      expect(String(err)).toMatch(/Server error \(HTTP status 500\).*ECONNREFUSED/);

      const socket = new WebSocket(`ws://${broken.wsHost}/v2`);
      const [code] = (await once(socket, 'close')) as [number];
      expect(code).toBe(1011);
    } finally {
      Object.assign(neonConfig, neonLocalConfig(endpoint));
      await broken.stop();
    }
    await stillServes();
  });

  it('stop() is idempotent and the port stops answering', async () => {
    const other = await startNeonServer({ databaseUrl });
    const sql = neon(other.connectionString);
    Object.assign(neonConfig, neonLocalConfig(other));
    try {
      expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
    } finally {
      Object.assign(neonConfig, neonLocalConfig(endpoint));
    }
    await Promise.all([other.stop(), other.stop()]);
    await expect(fetch(other.httpUrl, { method: 'POST', body: '{}' })).rejects.toThrow();
  });
});
