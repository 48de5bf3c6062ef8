import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { serviceUrls, uniqueName } from '@strata/devstack';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without types
import { forkSuite } from '../bench/lib/fork-suite.mjs';
// @ts-expect-error: a plain ESM script without types
import { sweep } from '../bench/lib/stack.mjs';

// run.mjs runs every suite in a process of its own (bench/run-suite.mjs) on a schema and keys of its
// own: a suite after the batch suite once measured search 1.6× instead of 1.2× on batch's tables.
// The fixture suites make a schema, a table and a Redis key under their stack's name.
const fixture = fileURLToPath(new URL('../bench/fixtures/isolation-suite.mjs', import.meta.url));
// The child is plain Node on the built packages: not vitest's flags (its source condition).
const options = { execArgv: [] };
const base = uniqueName('bench_iso');
const client = new pg.Client({ connectionString: serviceUrls().databaseUrl });
// The bench's own Redis client (a dependency of bench/, not of the root).
const { Redis } = createRequire(new URL('../bench/package.json', import.meta.url))('ioredis');

async function leftovers(name: string) {
  const { rows } = await client.query('select count(*)::int as n from pg_namespace where nspname = $1', [
    name,
  ]);
  const redis = new Redis(serviceUrls().redisUrl);
  try {
    const keys = await redis.keys(`*${name}*`);
    return { schemas: rows[0].n as number, keys: keys.length };
  } finally {
    redis.disconnect();
  }
}

beforeAll(() => client.connect());
afterAll(async () => {
  await sweep([`${base}_a`, `${base}_b`, `${base}_c`, `${base}_d`]);
  await client.end();
});

describe('bench: each suite in a process of its own', () => {
  it('two runs of a suite: two new processes, fresh schemas, results intact, nothing left', async () => {
    const a = await forkSuite({ key: 'reports', name: `${base}_a`, quick: true, from: fixture }, options);
    const b = await forkSuite({ key: 'reports', name: `${base}_b`, quick: true, from: fixture }, options);
    expect(a.error).toBeUndefined();
    expect(b.error).toBeUndefined();
    expect(a.out.raw).toMatchObject({ name: `${base}_a`, quick: true });
    expect(b.out.raw.name).toBe(`${base}_b`);
    expect(new Set([a.out.raw.pid, b.out.raw.pid, process.pid]).size).toBe(3);
    // A structured clone, not JSON: what a suite could not measure stays NaN.
    expect(a.out.rows[0].median).toBeNaN();
    expect(a.load.before).toHaveLength(3);
    expect(a.cleaned).toBe(true);
    expect(await leftovers(`${base}_a`)).toEqual({ schemas: 0, keys: 0 });
    expect(await leftovers(`${base}_b`)).toEqual({ schemas: 0, keys: 0 });
  }, 60_000);

  it('a suite that throws: its error comes back and its process still cleans up', async () => {
    const c = await forkSuite({ key: 'throws', name: `${base}_c`, quick: false, from: fixture }, options);
    expect(c.error).toBe('the fixture suite failed\nsecond line');
    expect(c.cleaned).toBe(true);
    expect(await leftovers(`${base}_c`)).toEqual({ schemas: 0, keys: 0 });
  }, 60_000);

  it('a process that dies: forkSuite rejects, and sweep removes what it left', async () => {
    await expect(
      forkSuite({ key: 'dies', name: `${base}_d`, quick: false, from: fixture }, options),
    ).rejects.toThrow(/SIGKILL.*without a result/);
    expect(await leftovers(`${base}_d`)).toEqual({ schemas: 1, keys: 1 });
    await sweep([`${base}_d`]);
    expect(await leftovers(`${base}_d`)).toEqual({ schemas: 0, keys: 0 });
  }, 60_000);
});
