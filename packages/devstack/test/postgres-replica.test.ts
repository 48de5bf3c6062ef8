import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresReplicaError } from '../src/postgres-replica/error.js';
import { type PostgresReplica, startPostgresReplica } from '../src/postgres-replica/start.js';
import { processGroupAlive } from '../src/process-group.js';

const one = async (pool: pg.Pool, sql: string, params: unknown[] = []) =>
  (await pool.query(sql, params)).rows[0];

describe('startPostgresReplica', () => {
  let pair: PostgresReplica;
  let primary: pg.Pool;
  let replica: pg.Pool;
  let machine: pg.Pool;
  let machineBefore: Record<string, unknown>;

  beforeAll(async () => {
    // The machine's own Postgres: its identity and settings must be the same after the pair ran.
    machine = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', max: 1 });
    machineBefore = await one(
      machine,
      `select system_identifier::text, current_setting('wal_level') as wal_level,
              current_setting('config_file') as config from pg_control_system()`,
    );
    pair = await startPostgresReplica();
    primary = new pg.Pool({ connectionString: pair.primary.url, max: 2 });
    replica = new pg.Pool({ connectionString: pair.replica.url, max: 2 });
    for (const pool of [primary, replica, machine]) pool.on('error', () => {});
    await primary.query('create table pgr_rows (id int primary key, v text)');
    await primary.query(`insert into pgr_rows values (1, 'one')`);
    await pair.caughtUp();
  }, 40_000);

  afterAll(async () => {
    for (const pool of [primary, replica, machine]) if (pool && !pool.ended) await pool.end();
    await pair?.stop();
  });

  it('starts a primary and a streaming hot standby on loopback ports of their own', async () => {
    console.log(`startPostgresReplica: started in ${pair.startedInMs} ms`);
    expect(pair.primary.port).not.toBe(5432);
    expect(pair.replica.port).not.toBe(5432);
    expect(await one(primary, 'select pg_is_in_recovery() as r')).toEqual({ r: false });
    expect(await one(replica, 'select pg_is_in_recovery() as r')).toEqual({ r: true });
    const sender = await one(primary, 'select count(*)::int as n from pg_stat_replication where state = $1', [
      'streaming',
    ]);
    expect(sender).toEqual({ n: 1 });
    // Same cluster: the replica is a copy of the primary, not another initdb.
    const id = 'select system_identifier::text as id from pg_control_system()';
    expect(await one(replica, id)).toEqual(await one(primary, id));
    await expect(replica.query(`insert into pgr_rows values (9, 'x')`)).rejects.toThrow(/read-only/);
  });

  it('replays what the primary commits; paused, it keeps the older answer until resumed', async () => {
    await primary.query(`update pgr_rows set v = 'two' where id = 1`);
    await pair.caughtUp();
    expect(await one(replica, 'select v from pgr_rows where id = 1')).toEqual({ v: 'two' });

    await pair.pauseReplay();
    await primary.query(`update pgr_rows set v = 'three' where id = 1`);
    const committed = await one(primary, 'select pg_current_wal_lsn()::text as lsn');
    // The replica receives the WAL but applies none of it: its answer stays the older one.
    const received = async () =>
      (await one(replica, 'select pg_last_wal_receive_lsn() >= $1::pg_lsn as got', [committed.lsn])).got;
    const deadline = Date.now() + 5_000;
    while (!(await received()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await received()).toBe(true);
    expect(await one(replica, 'select v from pgr_rows where id = 1')).toEqual({ v: 'two' });
    expect(await one(replica, 'select pg_get_wal_replay_pause_state() as s')).toEqual({ s: 'paused' });

    await pair.resumeReplay();
    expect(await one(replica, 'select v from pgr_rows where id = 1')).toEqual({ v: 'three' });
  });

  it('stop() ends its own servers and removes its dirs; the machine Postgres is as it was', async () => {
    const pids = [pair.primary.pid, pair.replica.pid];
    await primary.end();
    await replica.end();
    await pair.stop();
    await pair.stop(); // idempotent
    expect(pids.map(processGroupAlive)).toEqual([false, false]);
    expect(existsSync(pair.dir)).toBe(false);
    expect(
      await one(
        machine,
        `select system_identifier::text, current_setting('wal_level') as wal_level,
                current_setting('config_file') as config from pg_control_system()`,
      ),
    ).toEqual(machineBefore);
  }, 20_000);

  it('a wrong binDir fails with BINARY_MISSING before starting anything', async () => {
    const err = await startPostgresReplica({ binDir: '/nonexistent' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PostgresReplicaError);
    expect((err as PostgresReplicaError).code).toBe('BINARY_MISSING');
  });
});
