import { once } from 'node:events';
import { neonConfig, Pool } from '@neondatabase/serverless';
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/neon-serverless';
import {
  bigint,
  boolean,
  customType,
  integer,
  jsonb,
  pgSchema,
  serial,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import ws, { WebSocket } from 'ws';
import { neonLocalConfig } from '../src/neon/client-config.js';
import { startNeonServer } from '../src/neon/server.js';
import { serviceUrls, uniqueName } from '../src/testing/env.js';
import type { NeonEndpoint } from '../src/types.js';

const { databaseUrl } = serviceUrls();
const schemaName = uniqueName('neon_ws');
const appName = uniqueName('neon_ws_app');

const bytea = customType<{ data: Buffer; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (value) => Buffer.from(value),
});
const schema = pgSchema(schemaName);
const items = schema.table('items', {
  id: serial('id').primaryKey(),
  label: text('label').notNull().unique(),
  count: integer('count'),
  big: bigint('big', { mode: 'bigint' }),
  flag: boolean('flag'),
  at: timestamp('at', { withTimezone: true }),
  doc: jsonb('doc').$type<{ name: string; tags: string[]; nested: { n: number } }>(),
  data: bytea('data'),
  tags: text('tags').array(),
  nums: integer('nums').array(),
});

let endpoint: NeonEndpoint;
let pool: Pool;
let db: ReturnType<typeof drizzle>;
/** Plain pg straight to the backing server: sees what really landed, and watches pg_stat_activity. */
let direct: pg.Client;

beforeAll(async () => {
  endpoint = await startNeonServer({ databaseUrl });
  Object.assign(neonConfig, neonLocalConfig(endpoint), { webSocketConstructor: ws });
  pool = new Pool({ connectionString: endpoint.connectionString });
  pool.on('error', () => {});
  db = drizzle({ client: pool });
  direct = new pg.Client({ connectionString: databaseUrl });
  await direct.connect();
  await direct.query(`create schema ${schemaName}`);
  await direct.query(`create table ${schemaName}.items (
    id serial primary key, label text not null unique, count integer, big bigint, flag boolean,
    at timestamptz, doc jsonb, data bytea, tags text[], nums integer[])`);
});

afterAll(async () => {
  await direct?.query(`drop schema if exists ${schemaName} cascade`);
  await direct?.end();
  await pool?.end();
  await endpoint?.stop();
});

async function labelsInDatabase(prefix: string): Promise<string[]> {
  const { rows } = await direct.query<{ label: string }>(
    `select label from ${schemaName}.items where label like $1 order by label`,
    [`${prefix}%`],
  );
  return rows.map((row) => row.label);
}

describe('Pool + drizzle neon-serverless over the WebSocket proxy', () => {
  it('runs parameterised queries through the Pool', async () => {
    const result = await pool.query('select $1::int + 1 as n, $2::text as t, $3::text as missing', [
      41,
      'x',
      null,
    ]);
    expect(result.rows).toEqual([{ n: 42, t: 'x', missing: null }]);
    expect(result.fields.map((field) => field.name)).toEqual(['n', 't', 'missing']);
  });

  it('round-trips int, bigint, text, bool, timestamptz, jsonb, bytea, arrays and null', async () => {
    const at = new Date('2024-02-29T23:59:58.123Z');
    const row = {
      label: 'types-full',
      count: -2147483648,
      big: 9007199254740993n,
      flag: true,
      at,
      doc: { name: 'caf\u00e9 "quoted"', tags: ['a', 'b'], nested: { n: 1.5 } },
      data: Buffer.from([0, 1, 2, 254, 255]),
      tags: ['x', 'y,z', 'with "quote"', ''],
      nums: [3, -1, 0],
    };
    const [inserted] = await db.insert(items).values(row).returning();
    expect(inserted).toMatchObject({ ...row, id: expect.any(Number) });

    const [selected] = await db.select().from(items).where(eq(items.label, 'types-full'));
    expect(selected).toEqual({ ...row, id: inserted!.id });
    expect(selected!.data?.equals(row.data)).toBe(true);

    await db.insert(items).values({ label: 'types-null' });
    const [empty] = await db.select().from(items).where(eq(items.label, 'types-null'));
    expect(empty).toEqual({
      id: expect.any(Number),
      label: 'types-null',
      count: null,
      big: null,
      flag: null,
      at: null,
      doc: null,
      data: null,
      tags: null,
      nums: null,
    });

    // What Postgres itself holds, read without any Neon code in the way.
    const { rows } = await direct.query(
      `select big::text, encode(data, 'hex') as hex, doc->'nested'->>'n' as n from ${schemaName}.items where label = 'types-full'`,
    );
    expect(rows).toEqual([{ big: '9007199254740993', hex: '000102feff', n: '1.5' }]);
  });

  it('commits an interactive db.transaction', async () => {
    const count = await db.transaction(async (tx) => {
      await tx.insert(items).values({ label: 'tx-commit-1', count: 1 });
      await tx.insert(items).values({ label: 'tx-commit-2', count: 2 });
      const [sum] = await tx
        .select({ total: sql<number>`sum(${items.count})::int` })
        .from(items)
        .where(sql`${items.label} like 'tx-commit-%'`);
      return sum?.total;
    });
    expect(count).toBe(3);
    expect(await labelsInDatabase('tx-commit-')).toEqual(['tx-commit-1', 'tx-commit-2']);
  });

  it('rolls back an interactive db.transaction that throws: the rows are really absent', async () => {
    const seenInside: string[] = [];
    await expect(
      db.transaction(async (tx) => {
        await tx.insert(items).values({ label: 'tx-rollback-1' });
        const rows = await tx
          .select({ label: items.label })
          .from(items)
          .where(eq(items.label, 'tx-rollback-1'));
        seenInside.push(...rows.map((row) => row.label));
        throw new Error('abort on purpose');
      }),
    ).rejects.toThrow('abort on purpose');
    expect(seenInside).toEqual(['tx-rollback-1']);
    expect(await labelsInDatabase('tx-rollback-')).toEqual([]);

    // Drizzle's explicit rollback path ends the same way.
    await expect(
      db.transaction(async (tx) => {
        await tx.insert(items).values({ label: 'tx-rollback-2' });
        tx.rollback();
      }),
    ).rejects.toThrow();
    expect(await labelsInDatabase('tx-rollback-')).toEqual([]);
  });

  it('surfaces Postgres errors with their SQLSTATE through the proxy', async () => {
    await db.insert(items).values({ label: 'dup' });
    const failure = await db
      .insert(items)
      .values({ label: 'dup' })
      .catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(Error);
    const cause = (failure as Error & { cause?: { code?: string } }).cause;
    expect(cause?.code).toBe('23505');
    // The connection that saw the error is still usable.
    expect((await pool.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
  });
});

describe('the WebSocket proxy', () => {
  it('dials the backing Postgres whatever address the client asks for', async () => {
    const elsewhere = new URL(endpoint.connectionString);
    elsewhere.hostname = 'db.example.invalid';
    elsewhere.port = '1';
    const stray = new Pool({ connectionString: elsewhere.toString() });
    try {
      const { rows } = await stray.query('select current_database() as db, inet_server_port() as port');
      const backing = new URL(databaseUrl);
      expect(rows).toEqual([{ db: backing.pathname.slice(1), port: Number(backing.port || 5432) }]);
    } finally {
      await stray.end();
    }

    // A hand-made upgrade naming another host entirely still ends up at the backing server.
    const session = await openSession(`ws://${endpoint.wsHost}/v2?address=smtp.example.com:25`, 'addr');
    expect(session.messages).toContain('Z');
    session.socket.terminate();
    await session.closed;
  });

  it('refuses upgrades on other paths', async () => {
    const socket = new WebSocket(`ws://${endpoint.wsHost}/elsewhere`);
    const [err] = (await once(socket, 'error')) as [Error];
    expect(err.message).toContain('404');
  });

  it('survives a client that disconnects mid-query, and Postgres sees the connection go', async () => {
    // client_connection_check_interval makes the backend notice a dropped socket during pg_sleep.
    const session = await openSession(`ws://${endpoint.wsHost}/v2?address=x:5432`, 'midquery', {
      client_connection_check_interval: '50',
    });
    session.socket.send(queryMessage('select pg_sleep(60)'));
    await vi.waitFor(async () => {
      const { rows } = await direct.query('select state from pg_stat_activity where application_name = $1', [
        session.applicationName,
      ]);
      expect(rows).toEqual([{ state: 'active' }]);
    });

    session.socket.terminate();
    await session.closed;
    await vi.waitFor(
      async () => {
        const { rowCount } = await direct.query(
          'select 1 from pg_stat_activity where application_name = $1',
          [session.applicationName],
        );
        expect(rowCount).toBe(0);
      },
      { timeout: 10_000 },
    );
    expect((await pool.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
  });

  it('closes the WebSocket when the backend connection ends', async () => {
    const session = await openSession(`ws://${endpoint.wsHost}/v2`, 'terminated');
    const { rows } = await direct.query(
      'select pg_terminate_backend(pid) as done from pg_stat_activity where application_name = $1',
      [session.applicationName],
    );
    expect(rows).toEqual([{ done: true }]);
    expect(await session.closed).toBeGreaterThanOrEqual(1000);
    expect((await pool.query('select 3 as three')).rows).toEqual([{ three: 3 }]);
  });

  it('stop() closes open WebSockets and resolves', async () => {
    const other = await startNeonServer({ databaseUrl });
    const session = await openSession(`ws://${other.wsHost}/v2`, 'stop');
    await other.stop();
    expect(await session.closed).toBeGreaterThanOrEqual(1000);
    const refused = new WebSocket(`ws://${other.wsHost}/v2`);
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
  });
});

interface Session {
  socket: WebSocket;
  /** Resolves with the close code. */
  closed: Promise<number>;
  applicationName: string;
  /** Type bytes of the backend messages received during startup. */
  messages: string[];
}

/** A raw Postgres session over the proxy, up to ReadyForQuery, with a findable application_name. */
async function openSession(url: string, label: string, extra: Record<string, string> = {}): Promise<Session> {
  const applicationName = `${appName}_${label}`;
  const backing = new URL(databaseUrl);
  const socket = new WebSocket(url);
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  socket.on('error', () => {});
  await once(socket, 'open');
  const messages: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    let pending = Buffer.alloc(0);
    const onMessage = (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      while (pending.length >= 5) {
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) break;
        const type = String.fromCharCode(pending[0]!);
        const body = pending.subarray(5, 1 + length);
        pending = pending.subarray(1 + length);
        messages.push(type);
        if (type === 'E') reject(new Error(`backend error: ${body.toString('utf8')}`));
        if (type === 'Z') {
          socket.off('message', onMessage);
          resolve();
        }
      }
    };
    socket.on('message', onMessage);
    socket.once('close', () => reject(new Error('closed before ReadyForQuery')));
  });
  socket.send(
    startupMessage({
      user: decodeURIComponent(backing.username) || 'postgres',
      database: backing.pathname.slice(1),
      application_name: applicationName,
      ...extra,
    }),
  );
  await ready;
  return { socket, closed, applicationName, messages };
}

function startupMessage(params: Record<string, string>): Buffer {
  const body = Buffer.from(`${Object.entries(params).flat().join('\0')}\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(196608, 4); // protocol 3.0
  return Buffer.concat([head, body]);
}

function queryMessage(text: string): Buffer {
  const body = Buffer.from(`${text}\0`);
  const head = Buffer.alloc(5);
  head.write('Q', 0);
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}
