import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgSchema, pgTable, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Ciphertext is bound (AES-GCM additional data) to `{schema.table as plain text}:{id}:{field}`,
// not to the identity: an unqualified table literally named "S.items" and table items of Postgres
// schema S have the same plain name, so a ciphertext moved by SQL from one to the other (same
// key, same id and field) still decrypts. Kept on purpose (docs/semantics.md, "Identities"): the
// identity's encoding came later, and ciphertext stored before must still decrypt; a fallback to
// the old binding would accept the moved value just the same. This pins the documented bound; a
// change of the binding (with a marker telling old ciphertext from new) must flip it.

const KEY = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const cols = { id: text('id').primaryKey(), secret: text('secret').notNull() };

describe('ciphertext of an unqualified "S.items" and of S.items', () => {
  const { databaseUrl, redisUrl } = serviceUrls();
  const stem = uniqueName('aad_dots');
  const qualifiedSchema = `${stem}_q`;
  const pool = new pg.Pool({ connectionString: databaseUrl, options: `-c search_path=${stem}`, max: 4 });
  pool.on('error', () => {});
  const db = drizzle({ client: pool });
  const fields = { secret: { encrypted: true } } as const;
  const dotted = defineSchema({ name: 'dotted', table: pgTable(`${qualifiedSchema}.items`, cols), fields });
  const qualified = defineSchema({
    name: 'qualified',
    table: pgSchema(qualifiedSchema).table('items', cols),
    fields,
  });
  const raw = new Redis(redisUrl, { lazyConnect: true });
  let strata: Strata;

  beforeAll(async () => {
    await raw.connect();
    await pool.query(`create schema "${stem}"; create schema "${qualifiedSchema}"`);
    await pool.query(`create table "${qualifiedSchema}.items" (id text primary key, secret text not null)`);
    await pool.query(`create table "${qualifiedSchema}".items (id text primary key, secret text not null)`);
    strata = new Strata({
      l2: createIoredisL2(redisUrl),
      l3: createDrizzleL3(db, { migrationsSchema: stem }),
      keyPrefix: stem,
      encryptionKey: KEY,
      schemas: [dotted, qualified],
    });
  });
  afterAll(async () => {
    await strata?.close();
    await pool.query(
      `drop schema if exists "${stem}" cascade; drop schema if exists "${qualifiedSchema}" cascade`,
    );
    await pool.end();
    const keys = await raw.keys(`${stem}*`);
    if (keys.length > 0) await raw.del(...keys);
    raw.disconnect();
  });

  it('share one binding: a ciphertext moved between them decrypts (the documented bound)', async () => {
    await strata.set(qualified, { id: 'k', secret: 'of the qualified table' });
    await strata.set(dotted, { id: 'k', secret: 'of the dotted table' });
    await pool.query(
      `update "${qualifiedSchema}.items" d set secret = q.secret from "${qualifiedSchema}".items q where d.id = q.id`,
    );
    await strata.invalidate(dotted, 'k');
    expect((await strata.find(dotted, 'k'))?.secret).toBe('of the qualified table');
    // Another row or field of the same table still refuses it.
    await pool.query(
      `insert into "${qualifiedSchema}.items" (id, secret) select 'j', secret from "${qualifiedSchema}.items" where id = 'k'`,
    );
    await expect(strata.find(dotted, 'j')).rejects.toMatchObject({ code: 'DECODE_FAILED' });
  });
});
