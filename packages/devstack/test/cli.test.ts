import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { neon, neonConfig } from '@neondatabase/serverless';
import { Redis } from '@upstash/redis';
import { expect, it } from 'vitest';
import { neonLocalConfig } from '../src/neon/client-config.js';
import { canConnect } from '../src/net.js';
import type { DevstackInfo } from '../src/types.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

it('strata-devstack prints its endpoints, serves them, and stops on SIGTERM', async () => {
  expect(existsSync(cli), 'build first: npm run build (npm test does)').toBe(true);
  const child = spawn(process.execPath, [cli, '--json', '--embedded', 'never'], {
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
