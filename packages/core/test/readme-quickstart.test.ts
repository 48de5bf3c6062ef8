import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { neon, neonConfig } from '@neondatabase/serverless';
import { createScratchDatabase, neonLocalConfig, type ScratchDatabase, withDatabase } from '@strata/devstack';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';

const readme = fileURLToPath(new URL('../../../README.md', import.meta.url));
// The driver's own default, to run the quick start as a fresh process would: it must point neon()
// at the devstack itself, from NEON_FETCH_ENDPOINT as the devstack prints it.
const driverDefaultEndpoint = neonConfig.fetchEndpoint;
const generated = fileURLToPath(new URL('./.generated/', import.meta.url));

function quickstartBlock(): string {
  const text = readFileSync(readme, 'utf8');
  const match = /```ts quickstart\n([\s\S]*?)```/.exec(text);
  if (!match?.[1]) throw new Error('README.md has no ```ts quickstart block');
  return match[1];
}

// The quick start creates `quickstart_players` (and Strata's tables) unqualified: in a database of
// this test alone, dropped afterwards; its Redis keys under a prefix of this run (STRATA_KEY_PREFIX).
let scratch: ScratchDatabase;
let databaseUrl: string;
const keyPrefix = uniqueName('quickstart');

beforeAll(async () => {
  scratch = await createScratchDatabase('quickstart', testDevstack().postgres.url);
  // The Neon endpoints serve whichever database the connection string names.
  databaseUrl = withDatabase(testDevstack().neon.connectionString, scratch.name);
});

afterAll(async () => {
  await scratch?.drop();
  const redis = new Redis(testDevstack().upstash!);
  const keys = await redis.keys(`${keyPrefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
});

it("the README's quick start runs as written against the devstack", async () => {
  const stack = testDevstack();
  Object.assign(neonConfig, neonLocalConfig(stack.neon));
  vi.stubEnv('UPSTASH_REDIS_REST_URL', stack.upstash!.url);
  vi.stubEnv('UPSTASH_REDIS_REST_TOKEN', stack.upstash!.token);
  vi.stubEnv('DATABASE_URL', databaseUrl);
  vi.stubEnv('STRATA_KEY_PREFIX', keyPrefix);
  vi.stubEnv('NEON_FETCH_ENDPOINT', stack.neon.httpUrl);
  neonConfig.fetchEndpoint = driverDefaultEndpoint;
  vi.stubEnv(
    'STRATA_ENCRYPTION_KEY',
    Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex'),
  );
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    mkdirSync(generated, { recursive: true });
    const file = `${generated}quickstart.ts`;
    writeFileSync(file, quickstartBlock());
    await import(/* @vite-ignore */ file);
    expect(log).toHaveBeenCalledWith('andrew', 1, 'a@example.com');
  } finally {
    log.mockRestore();
    vi.unstubAllEnvs();
    Object.assign(neonConfig, neonLocalConfig(stack.neon));
  }
  // What it wrote is really there, and the e-mail is ciphertext in Postgres.
  const [row] = await neon(databaseUrl)`select username, email from quickstart_players where id = 'p1'`;
  expect(row?.username).toBe('andrew');
  expect(String(row?.email)).toMatch(/^v2\.k0\./);
  // Its Redis keys are under this run's prefix (so afterAll finds and deletes them).
  const redis = new Redis(stack.upstash!);
  expect(await redis.keys(`${keyPrefix}:quickstart_players:*`)).not.toEqual([]);
});
