import { neon, neonConfig, Pool } from '@neondatabase/serverless';
import { Redis as Upstash } from '@upstash/redis';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ws from 'ws';
import { RedisBinaryMissingError, spawnRedisServer } from '../src/embedded/redis-server.js';
import { type Devstack, DevstackError, startDevstack } from '../src/index.js';
import { neonLocalConfig } from '../src/neon/client-config.js';
import { canConnect, freePort } from '../src/net.js';

describe('spawnRedisServer', () => {
  it('starts a real redis-server on a free port and stops it', async () => {
    const redis = await spawnRedisServer();
    const client = new IORedis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.set('k', 'v');
      expect(await client.get('k')).toBe('v');
      expect(await client.info('persistence')).toMatch(/aof_enabled:0/);
    } finally {
      client.disconnect();
      await redis.stop();
    }
    const port = Number(new URL(redis.url).port);
    expect(await canConnect('127.0.0.1', port)).toBe(false);
  });

  it('says plainly when the binary is missing', async () => {
    await expect(spawnRedisServer('/nonexistent/redis-server')).rejects.toBeInstanceOf(
      RedisBinaryMissingError,
    );
  });
});

describe('startDevstack fallbacks', () => {
  it("fails loudly in 'never' mode when a service does not answer", async () => {
    const closed = await freePort();
    await expect(
      startDevstack({ embedded: 'never', redisUrl: `redis://127.0.0.1:${closed}` }),
    ).rejects.toThrow(DevstackError);
  });

  it("in 'auto' mode spawns redis-server when the configured Redis does not answer", async () => {
    const closed = await freePort();
    const stack = await startDevstack({ embedded: 'auto', redisUrl: `redis://127.0.0.1:${closed}` });
    try {
      expect(stack.redis.source).toBe('spawned');
      expect(stack.postgres.source).toBe('external');
      const redis = new Upstash(stack.upstash!);
      await redis.set('fallback', { ok: 1 });
      expect(await redis.get('fallback')).toEqual({ ok: 1 });
    } finally {
      await stack.stop();
    }
    expect(await canConnect('127.0.0.1', Number(new URL(stack.redis.url!).port))).toBe(false);
  });
});

describe('embedded devstack (PGlite + spawned redis-server) through the real clients', () => {
  let stack: Devstack;
  const saved = { ...neonConfig };

  beforeAll(async () => {
    stack = await startDevstack({ embedded: 'always' });
    neonConfig.webSocketConstructor = ws;
    Object.assign(neonConfig, neonLocalConfig(stack.neon));
  }, 60_000);

  afterAll(async () => {
    Object.assign(neonConfig, saved);
    await stack?.stop();
  });

  it('reports what it embedded', () => {
    expect(stack.postgres.source).toBe('pglite');
    expect(stack.redis.source).toBe('spawned');
  });

  it('serves Neon HTTP (neon()) over PGlite, batches included', async () => {
    const sql = neon(stack.neon.connectionString);
    await sql`create table if not exists emb_http (id int primary key, name text not null)`;
    const [inserted, counted] = await sql.transaction([
      sql`insert into emb_http values (1, 'ada'), (2, 'grace') returning id`,
      sql`select count(*)::int as n from emb_http`,
    ]);
    expect(inserted).toHaveLength(2);
    expect(counted).toEqual([{ n: 2 }]);
    await expect(sql`insert into emb_http values (1, 'dup')`).rejects.toMatchObject({ code: '23505' });
    expect(await sql`select name from emb_http order by id`).toEqual([{ name: 'ada' }, { name: 'grace' }]);
  });

  it('serves the Neon WebSocket Pool over PGlite, with interactive transactions', async () => {
    const pool = new Pool({ connectionString: stack.neon.connectionString });
    try {
      await pool.query('create table if not exists emb_ws (id int primary key, n int not null)');
      const client = await pool.connect();
      try {
        await client.query('begin');
        await client.query('insert into emb_ws values (1, 10)');
        await client.query('rollback');
        await client.query('begin');
        await client.query('insert into emb_ws values (2, 20)');
        await client.query('commit');
      } finally {
        client.release();
      }
      const { rows } = await pool.query('select id, n from emb_ws order by id');
      expect(rows).toEqual([{ id: 2, n: 20 }]);
    } finally {
      await pool.end();
    }
  });
});
