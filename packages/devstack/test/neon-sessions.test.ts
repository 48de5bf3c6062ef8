import { neon, neonConfig } from '@neondatabase/serverless';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { neonLocalConfig } from '../src/neon/client-config.js';
import { startNeonServer } from '../src/neon/server.js';
import { serviceUrls, uniqueName } from '../src/testing/env.js';
import type { NeonEndpoint } from '../src/types.js';

// Each HTTP request is a session of its own, and the endpoint's connections are bounded in total.
const { databaseUrl } = serviceUrls();
const schema = uniqueName('neon_sessions');
const appName = uniqueName('neon_sessions_app');

let direct: pg.Client;
const started: NeonEndpoint[] = [];

async function start(options: { maxConnections: number; idleTimeoutMs?: number }): Promise<NeonEndpoint> {
  const endpoint = await startNeonServer({ databaseUrl, ...options });
  started.push(endpoint);
  return endpoint;
}

/** The endpoint's connection string with an application name, so pg_stat_activity can tell its connections. */
function withAppName(endpoint: NeonEndpoint, name: string): string {
  const url = new URL(endpoint.connectionString);
  url.searchParams.set('application_name', name);
  return url.toString();
}

/** POST /sql by hand, as a client that is not neon() would. */
async function post(endpoint: NeonEndpoint, connectionString: string, query: string) {
  const response = await fetch(endpoint.httpUrl, {
    method: 'POST',
    body: JSON.stringify({ query, params: [] }),
    headers: { 'Neon-Connection-String': connectionString, 'Neon-Array-Mode': 'true' },
  });
  return { status: response.status, json: (await response.json()) as { rows?: unknown[][] } };
}

async function backends(namePattern: string): Promise<{ state: string }[]> {
  const { rows } = await direct.query<{ state: string }>(
    'select state from pg_stat_activity where application_name like $1',
    [namePattern],
  );
  return rows;
}

beforeAll(async () => {
  direct = new pg.Client({ connectionString: databaseUrl });
  await direct.connect();
  await direct.query(`create schema ${schema}`);
  await direct.query(`create table ${schema}.notes (id int primary key, body text not null)`);
});

afterAll(async () => {
  for (const endpoint of started) await endpoint.stop();
  await direct?.query(`drop schema if exists ${schema} cascade`);
  await direct?.end();
});

describe('one session per HTTP request', () => {
  it("a stray BEGIN or SET from one client does not swallow or change another client's writes", async () => {
    // One connection, so every request reuses the one the stray BEGIN ran on.
    const endpoint = await start({ maxConnections: 1 });
    Object.assign(neonConfig, neonLocalConfig(endpoint));
    const connection = withAppName(endpoint, `${appName}_begin`);

    expect((await post(endpoint, connection, 'BEGIN')).status).toBe(200);
    expect((await post(endpoint, connection, "SET search_path TO 'pg_catalog'")).status).toBe(200);
    expect(
      (await post(endpoint, connection, "SELECT set_config('strata.flag', 'leaked', false)")).status,
    ).toBe(200);

    const sql = neon(connection);
    for (const id of [1, 2, 3]) {
      await sql.query(`insert into ${schema}.notes (id, body) values ($1, $2)`, [id, `note ${id}`]);
    }
    // Committed: another connection, outside the endpoint, sees all three.
    const { rows } = await direct.query(`select id, body from ${schema}.notes order by id`);
    expect(rows).toEqual([
      { id: 1, body: 'note 1' },
      { id: 2, body: 'note 2' },
      { id: 3, body: 'note 3' },
    ]);
    // The settings did not outlive their request either.
    const [settings] = await sql.query(
      "select current_setting('search_path') as path, current_setting('strata.flag', true) as flag",
    );
    expect(settings?.path).toBe('"$user", public');
    // A reset custom setting reads '' rather than null: the name stays known to the backend, the value is gone.
    expect(settings?.flag ?? '').toBe('');
    // And nothing is left open: the endpoint's connection sits idle, not idle in transaction.
    expect(await backends(`${appName}_begin`)).toEqual([{ state: 'idle' }]);
  });

  it('a failed batch leaves no transaction open for the next request', async () => {
    const endpoint = await start({ maxConnections: 1 });
    Object.assign(neonConfig, neonLocalConfig(endpoint));
    const sql = neon(withAppName(endpoint, `${appName}_batch`));
    await expect(
      sql.transaction([sql.query(`insert into ${schema}.notes values (10, 'x')`), sql.query('select 1/0')]),
    ).rejects.toThrow(/division by zero/);
    await sql.query(`insert into ${schema}.notes (id, body) values (11, 'after')`);
    const { rows } = await direct.query(`select id from ${schema}.notes where id >= 10 order by id`);
    expect(rows).toEqual([{ id: 11 }]);
  });
});

describe('bounded connections', () => {
  it('many distinct application names share a bounded set of connections, closed when idle', async () => {
    const endpoint = await start({ maxConnections: 3, idleTimeoutMs: 300 });
    Object.assign(neonConfig, neonLocalConfig(endpoint));
    const prefix = `${appName}_many`;
    const replies = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        neon(withAppName(endpoint, `${prefix}_${i}`)).query('select pg_sleep(0.02), $1::int as i', [i]),
      ),
    );
    expect(replies.map(([row]) => row?.i)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    // Never more than three, whatever the number of application names.
    expect((await backends(`${prefix}_%`)).length).toBeLessThanOrEqual(3);
    await vi.waitFor(async () => expect(await backends(`${prefix}_%`)).toEqual([]), { timeout: 5_000 });
  });
});
