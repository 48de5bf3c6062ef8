import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, realpathSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { neon, neonConfig } from '@neondatabase/serverless';
import { Redis } from '@upstash/redis';
import { expect, it } from 'vitest';
import { devVars } from '../src/dev-vars.js';
import { neonLocalConfig } from '../src/neon/client-config.js';
import { canConnect } from '../src/net.js';
import type { DevstackInfo } from '../src/types.js';

const built = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
// The bin as `npm install` linked it on a fresh checkout: the committed launcher, which runs dist.
const linked = fileURLToPath(new URL('../../../node_modules/.bin/strata-devstack', import.meta.url));
const launcher = fileURLToPath(new URL('../bin/strata-devstack.mjs', import.meta.url));

it('npm install linked strata-devstack to the committed launcher', () => {
  expect(realpathSync(linked)).toBe(realpathSync(launcher));
});

it('strata-devstack prints its endpoints, serves them, and stops on SIGTERM', async () => {
  expect(existsSync(built), 'build first: npm run build (npm test does)').toBe(true);
  const child = spawn(linked, ['--json', '--embedded', 'never'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  try {
    const lines = createInterface({ input: child.stdout! });
    const [first] = (await once(lines, 'line')) as [string];
    const info = JSON.parse(first) as DevstackInfo;
    expect(info.redis.source).toBe('external');
    expect(info.postgres.source).toBe('external');

    const redis = new Redis(info.upstash!);
    expect(await redis.ping()).toBe('PONG');
    Object.assign(neonConfig, neonLocalConfig(info.neon));
    const sql = neon(info.neon.connectionString);
    expect(await sql`select 41 + 1 as answer`).toEqual([{ answer: 42 }]);

    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(await canConnect('127.0.0.1', Number(new URL(info.upstash!.url).port))).toBe(false);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

it('without --json it prints a .dev.vars block a Worker can use as it is, and says when it is ready', async () => {
  expect(existsSync(built), 'build first: npm run build (npm test does)').toBe(true);
  const child = spawn(linked, ['--embedded', 'never'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  const ready = new Promise<void>((resolve) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line === 'devstack: ready (Ctrl-C stops it)') resolve();
    });
  });
  try {
    const lines: string[] = [];
    for await (const line of createInterface({ input: child.stdout! })) {
      lines.push(line);
      if (line.startsWith('# Neon WebSocket proxy')) break; // the block's last line
    }
    await ready;
    const stdout = lines.join('\n');
    const bindings = Object.fromEntries(
      stdout
        .split('\n')
        .filter((line) => line !== '' && !line.startsWith('#'))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(Object.keys(bindings)).toEqual([
      'UPSTASH_REDIS_REST_URL',
      'UPSTASH_REDIS_REST_TOKEN',
      'DATABASE_URL',
      'NEON_FETCH_ENDPOINT',
    ]);
    const redis = new Redis({
      url: bindings.UPSTASH_REDIS_REST_URL!,
      token: bindings.UPSTASH_REDIS_REST_TOKEN!,
    });
    expect(await redis.ping()).toBe('PONG');
    neonConfig.fetchEndpoint = bindings.NEON_FETCH_ENDPOINT!;
    expect(await neon(bindings.DATABASE_URL!)`select 6 * 7 as answer`).toEqual([{ answer: 42 }]);
    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

it('devVars names the missing Upstash lines when there is no Redis', () => {
  const block = devVars({
    redis: { source: 'unavailable', reason: 'redis-server is not installed' },
    postgres: { source: 'pglite', url: 'postgres://postgres@127.0.0.1:5999/postgres' },
    neon: {
      httpUrl: 'http://127.0.0.1:6000/sql',
      wsHost: '127.0.0.1:6000',
      connectionString: 'postgresql://postgres@127.0.0.1:5999/postgres',
    },
  });
  expect(block.split('\n').filter((line) => /^[A-Z_]+=/.test(line))).toEqual([
    'DATABASE_URL=postgresql://postgres@127.0.0.1:5999/postgres',
    'NEON_FETCH_ENDPOINT=http://127.0.0.1:6000/sql',
  ]);
  expect(block).toContain('# no UPSTASH_REDIS_REST_URL/_TOKEN: redis-server is not installed');
});
