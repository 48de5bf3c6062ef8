import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { dropScratchSchema, serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { DeployProcess } from './deploy-process.js';
import { type AofRedis, startAofRedis } from './deployment-redis.js';

/** The tables of reliability/fixtures/deploy-node.mjs: `wt` write-through, `wb` write-behind. */
export const DEPLOY_TABLES = ['wt', 'wb'] as const;
export type DeployTable = (typeof DEPLOY_TABLES)[number];

/**
 * The app the probe-deploy-processes tests run as real processes: a Redis of the test's own (AOF),
 * a Postgres schema with the two tables (migrated), and the processes, started with `spawn(offset)`
 * (their clock that far off). Their sessions carry the app's name as application_name, so
 * `cutPostgres` terminates theirs and no one else's. `cleanup` kills what is left, drops the schema,
 * stops Redis.
 */
export async function deployApp(label: string) {
  const { databaseUrl } = serviceUrls();
  const name = uniqueName(label);
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  admin.on('error', () => {});
  const redis: AofRedis = await startAofRedis();
  const procs: DeployProcess[] = [];
  const url = new URL(databaseUrl);
  url.searchParams.set('application_name', name);
  const appUrl = url.toString();
  await admin.query(`create schema "${name}"`);
  const columns = () => ({ id: text('id').primaryKey(), n: integer('n').notNull(), by: text('by') });
  const schemas = DEPLOY_TABLES.map((t) => defineSchema({ table: pgSchema(name).table(t, columns()) }));
  await new Strata({
    l3: createDrizzleL3(drizzle({ client: admin }), { migrationsSchema: name }),
    schemas,
  }).migrate();

  return {
    name,
    redis,
    procs,
    async spawn(offsetMs: number): Promise<DeployProcess> {
      const proc = new DeployProcess([name, redis.url, appUrl, String(offsetMs)]);
      procs.push(proc);
      await proc.ready;
      return proc;
    },
    async cutPostgres(): Promise<void> {
      await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1',
        [name],
      );
    },
    /** Postgres' `n` per `table/id` for ids `k0`..`k{keys-1}` (null: no row). */
    async inPostgres(keys: number): Promise<Map<string, number | null>> {
      const found = new Map<string, number | null>();
      for (const table of DEPLOY_TABLES) {
        const { rows } = await admin.query<{ id: string; n: number }>(`select id, n from "${name}".${table}`);
        for (let k = 0; k < keys; k++)
          found.set(`${table}/k${k}`, rows.find((r) => r.id === `k${k}`)?.n ?? null);
      }
      return found;
    },
    async cleanup(): Promise<void> {
      for (const proc of procs) proc.kill();
      await dropScratchSchema(admin, name);
      await admin.end();
      await redis.stop();
    },
  };
}
export type DeployApp = Awaited<ReturnType<typeof deployApp>>;

/**
 * The end of a run: a fresh process joins (its reads come from L2), each process reads until it
 * agrees with Postgres (at most 3 s), then all are closed. Resolves, per process, what it still read
 * otherwise and the output lines that answered no request (`strays`): both empty when all is well.
 */
export async function finalReads(
  app: DeployApp,
  procs: DeployProcess[],
  inPostgres: Map<string, number | null>,
) {
  procs.push(await app.spawn(0));
  const wrong: Awaited<ReturnType<typeof readsAgree>>[] = [];
  for (const proc of procs) wrong.push(await readsAgree(proc, inPostgres, 3_000));
  const found = procs.map((proc, i) => ({ process: i, wrong: wrong[i], strays: proc.strays }));
  await Promise.all(procs.map((p) => p.close()));
  return found;
}

/**
 * Reads every key (`find`) and every table (`searchCached`) through `proc` until they equal
 * Postgres, for at most `ms` (other processes' bus messages have no event to await from here);
 * resolves what still differs.
 */
export async function readsAgree(proc: DeployProcess, inPostgres: Map<string, number | null>, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const wrong: string[] = [];
    for (const [key, value] of inPostgres) {
      const [table, id] = key.split('/') as [string, string];
      const row = (await proc.ok({ op: 'read', table, id })) as { n: number } | null;
      if ((row?.n ?? null) !== value) wrong.push(`${key}: read ${row?.n ?? null}, Postgres ${value}`);
    }
    for (const table of DEPLOY_TABLES) {
      const rows = (await proc.ok({ op: 'search', table })) as { id: string; n: number }[];
      const listed = rows.map((r) => `${r.id}=${r.n}`).join(',');
      const expected = [...inPostgres]
        .filter(([key, n]) => key.startsWith(`${table}/`) && n !== null)
        .map(([key, n]) => `${key.split('/')[1]}=${n}`)
        .join(',');
      if (listed !== expected) wrong.push(`searchCached ${table}: ${listed} != Postgres ${expected}`);
    }
    if (wrong.length === 0 || Date.now() > deadline) return wrong;
    await new Promise((r) => setTimeout(r, 100));
  }
}
