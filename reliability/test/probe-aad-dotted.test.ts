import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { strataRejection } from '@strata/core/testing';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgSchema, pgTable, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealLegacyV1 } from '../../packages/core/src/crypto/legacy-v1.fixture.js';

// A ciphertext is bound (AES-GCM additional data) to its place: a `v2.` value to the JSON array
// [table identity, id, field], which no other place shares. Before, every value was bound to
// `{schema.table as plain text}:{id}:{field}`, which an unqualified table literally named "S.items"
// and table items of Postgres schema S shared (and table `t:x` row `y` with table `t` row `x:y`), so
// a value moved by SQL between them decrypted. Those `v1.` values still decrypt with that text (the
// marker tells them apart) unless `encryption: { legacy: 'refuse' }`.

const KEY = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const KEY_BYTES = new Uint8Array(Buffer.from(KEY, 'hex'));
const cols = () => ({ id: text('id').primaryKey(), secret: text('secret').notNull() });

describe('ciphertext bound to one place: "S.items" and S.items, t:x/y and t/x:y', () => {
  const { databaseUrl, redisUrl } = serviceUrls();
  const stem = uniqueName('aad_dots');
  const qualifiedSchema = `${stem}_q`;
  const pool = new pg.Pool({ connectionString: databaseUrl, options: `-c search_path=${stem}`, max: 4 });
  pool.on('error', () => {});
  const db = drizzle({ client: pool });
  const fields = { secret: { encrypted: true } } as const;
  const dotted = defineSchema({ name: 'dotted', table: pgTable(`${qualifiedSchema}.items`, cols()), fields });
  const qualified = defineSchema({
    name: 'qualified',
    table: pgSchema(qualifiedSchema).table('items', cols()),
    fields,
  });
  const colon = defineSchema({ name: 'colon', table: pgTable('t:x', cols()), fields });
  const plain = defineSchema({ name: 'plain', table: pgTable('t', cols()), fields });
  const schemas = [dotted, qualified, colon, plain];
  const raw = new Redis(redisUrl, { lazyConnect: true });
  const opened: Strata[] = [];
  const open = (keyPrefix: string, legacy?: 'accept' | 'refuse') => {
    const strata = new Strata({
      l2: createIoredisL2(redisUrl),
      l3: createDrizzleL3(db, { migrationsSchema: stem }),
      keyPrefix,
      encryptionKey: KEY,
      schemas,
      ...(legacy && { encryption: { legacy } }),
    });
    opened.push(strata);
    return strata;
  };
  let strata: Strata;
  const secretOf = async (table: string, id: string) =>
    (await pool.query<{ secret: string }>(`select secret from ${table} where id = $1`, [id])).rows[0]?.secret;

  beforeAll(async () => {
    await raw.connect();
    await pool.query(`create schema "${stem}"; create schema "${qualifiedSchema}"`);
    for (const table of [`"${qualifiedSchema}.items"`, `"${qualifiedSchema}".items`, '"t:x"', 't']) {
      await pool.query(`create table ${table} (id text primary key, secret text not null)`);
    }
    strata = open(stem);
  });
  afterAll(async () => {
    await Promise.allSettled(opened.map((s) => s.close()));
    await pool.query(
      `drop schema if exists "${stem}" cascade; drop schema if exists "${qualifiedSchema}" cascade`,
    );
    await pool.end();
    const keys = await raw.keys(`${stem}*`);
    if (keys.length > 0) await raw.del(...keys);
    raw.disconnect();
  });

  it('a value moved by SQL between "S.items" and S.items (same id and field) does not decrypt', async () => {
    await strata.set(qualified, { id: 'k', secret: 'of the qualified table' });
    await strata.set(dotted, { id: 'k', secret: 'of the dotted table' });
    expect(await secretOf(`"${qualifiedSchema}".items`, 'k')).toMatch(/^v2\.k0\./);
    await pool.query(
      `update "${qualifiedSchema}.items" d set secret = q.secret from "${qualifiedSchema}".items q where d.id = q.id`,
    );
    await strata.invalidate(dotted, 'k');
    const refused = await strataRejection(strata.find(dotted, 'k'));
    expect(refused.code).toBe('DECODE_FAILED');
    expect(refused.message).toContain('schema dotted: field secret of row k');
    // The other way round too; each still reads in its own place.
    await strata.set(dotted, { id: 'm', secret: 'of the dotted table' });
    await pool.query(
      `insert into "${qualifiedSchema}".items (id, secret) select id, secret from "${qualifiedSchema}.items" where id = 'm'`,
    );
    expect((await strataRejection(strata.find(qualified, 'm'))).code).toBe('DECODE_FAILED');
    expect((await strata.find(qualified, 'k'))?.secret).toBe('of the qualified table');
    expect((await strata.find(dotted, 'm'))?.secret).toBe('of the dotted table');
  });

  it("table t:x's row y moved by SQL to table t's row x:y does not decrypt", async () => {
    await strata.set(colon, { id: 'y', secret: 'of t:x' });
    await pool.query(`insert into t (id, secret) select 'x:y', secret from "t:x" where id = 'y'`);
    expect((await strataRejection(strata.find(plain, 'x:y'))).code).toBe('DECODE_FAILED');
    await strata.set(plain, { id: 'x:z', secret: 'of t' });
    await pool.query(`insert into "t:x" (id, secret) select 'z', secret from t where id = 'x:z'`);
    expect((await strataRejection(strata.find(colon, 'z'))).code).toBe('DECODE_FAILED');
    expect((await strata.find(colon, 'y'))?.secret).toBe('of t:x');
  });

  it("v1 values stored before still read under 'accept' (moved ones too); 'refuse' fails them and changes nothing", async () => {
    // As the old binding sealed them: `{schema.table}:{id}:{field}`, one text for both tables.
    const v1 = await sealLegacyV1(KEY_BYTES, 'k0', 'stored before', `${qualifiedSchema}.items:v:secret`);
    await pool.query(`insert into "${qualifiedSchema}".items (id, secret) values ('v', $1)`, [v1]);
    await pool.query(`insert into "${qualifiedSchema}.items" (id, secret) values ('v', $1)`, [v1]);
    expect((await strata.find(qualified, 'v'))?.secret).toBe('stored before');
    expect((await strata.find(dotted, 'v'))?.secret).toBe('stored before');

    const refusing = open(`${stem}_r`, 'refuse');
    for (const schema of [qualified, dotted]) {
      const refused = await strataRejection(refusing.find(schema, 'v'));
      expect(refused.code).toBe('DECODE_FAILED');
      expect(refused.message).toContain(
        `schema ${schema.name}: field secret of row v: cannot decrypt value: a legacy (v1) value`,
      );
      expect(refused.message).toContain("refused by encryption.legacy 'refuse'");
    }
    // Nothing changed: Postgres holds the v1 values, and the refusing app cached no row.
    expect(await secretOf(`"${qualifiedSchema}".items`, 'v')).toBe(v1);
    expect(await secretOf(`"${qualifiedSchema}.items"`, 'v')).toBe(v1);
    expect((await raw.keys(`${stem}_r:*`)).filter((k) => k.includes(':r:'))).toEqual([]);
    // What it writes (v2) it reads.
    await refusing.set(qualified, { id: 'w', secret: 'written now' });
    expect((await refusing.find(qualified, 'w'))?.secret).toBe('written now');
    // (The check above sees cached rows: this one is.)
    expect((await raw.keys(`${stem}_r:*`)).filter((k) => k.includes(':r:'))).toHaveLength(1);
  });
});
