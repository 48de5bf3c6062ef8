import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { defineSchema } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStrata, type NodeStrata } from '../src/create-strata.js';
import { binPath, type CliOutcome, cliPath, runCli } from './support/run-cli.js';
import { scratch } from './support/scratch.js';

// `strata relay` as a process over the real Postgres and Redis: it relays writes made with a plain
// pg client into the caches of an instance (this test process) that has no relay of its own.
const config = fileURLToPath(new URL('./fixtures/strata.config.mjs', import.meta.url));
const space = scratch('cli_relay');
const { name } = space;
// The fixture's table, as the config the CLI loads defines it (identity `${name}.players`).
const players = defineSchema({
  table: pgSchema(name).table('players', {
    id: text('id').primaryKey(),
    level: integer('level').notNull().default(1),
  }),
  name: 'players',
});
const DEADLINE_MS = 10_000;
let app: NodeStrata;

function env(testName = name): Record<string, string | undefined> {
  const vars: Record<string, string | undefined> = {
    ...process.env,
    DATABASE_URL: space.databaseUrl,
    REDIS_URL: space.redisUrl,
    STRATA_CLI_TEST_NAME: testName,
  };
  delete vars.UPSTASH_REDIS_REST_URL;
  delete vars.UPSTASH_REDIS_REST_TOKEN;
  return vars;
}

const cli = (args: string[], testName?: string): Promise<CliOutcome> =>
  runCli([...args, '--config', config], env(testName));

/** The relay as a child process; `until` resolves at the first stdout line matching, from `from` on. */
function spawnRelay(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [binPath, 'relay', ...args, '--config', config], {
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const reader = createInterface({ input: child.stdout! });
  reader.on('line', (line) => lines.push(line));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const until = async (pattern: RegExp, from = 0): Promise<number> => {
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      const at = lines.findIndex((line, i) => i >= from && pattern.test(line));
      if (at >= 0) return at;
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`no line matching ${pattern}; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`);
      }
      // The next line, the exit, or the deadline, whichever comes first.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        once(reader, 'line'),
        exited,
        new Promise((resolve) => (timer = setTimeout(resolve, deadline - Date.now()))),
      ]);
      clearTimeout(timer);
    }
  };
  return { child, lines, stderr: () => stderr, exited, until };
}

/** Reads `id` through the app until it serves `level`, within the deadline (no fixed sleep). */
async function servedLevel(id: string, level: number): Promise<void> {
  const since = Date.now();
  for (;;) {
    if ((await app.strata.find(players, id))?.level === level) return;
    if (Date.now() - since > DEADLINE_MS) throw new Error(`${id} never served level ${level}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The app reads `id` until its L1 holds it (a fill may be refused while a bus message is out). */
async function cached(id: string, level: number): Promise<void> {
  const since = Date.now();
  while (app.strata.peek(players, id)?.level !== level) {
    expect((await app.strata.find(players, id))?.level).toBe(level);
    if (Date.now() - since > DEADLINE_MS) throw new Error(`${id} never cached at ${level}`);
  }
}

beforeAll(async () => {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: build first (npm test does)`);
  app = await createStrata({
    databaseUrl: space.databaseUrl,
    redisUrl: space.redisUrl,
    schemas: [players],
    keyPrefix: name,
    migrationsSchema: name,
    handleSignals: false,
  });
  await app.strata.migrate({ capture: true });
});
afterAll(async () => {
  await app?.shutdown();
  await space.cleanup();
});

it('relays an outside UPDATE into an instance without a relay, and stops on SIGTERM with exit 0', async () => {
  // An hour's interval: only the LISTEN wake-up can bring the update within the deadline.
  const relay = spawnRelay(['--interval', '1h']);
  try {
    await relay.until(/ relay started: every 3600000 ms, listen on, change log of postgres:\/\//);
    // No cursor yet: the first pass starts the log at "now", a gap that drops every cached row.
    const gap = await relay.until(
      / pass: gap \(every cached row dropped\), 0 change\(s\) applied, lag \d+ ms$/,
    );
    await app.strata.set(players, { id: 'p1', level: 1 });
    await cached('p1', 1);
    await space.pool.query(`update "${name}".players set level = 2 where id = 'p1'`);
    await servedLevel('p1', 2);
    await relay.until(/ pass: 1 change\(s\) applied, lag \d+ ms$/, gap + 1);
  } finally {
    if (relay.child.exitCode === null) process.kill(relay.child.pid!, 'SIGTERM');
  }
  const [code, signal] = await relay.exited;
  expect({ code, signal, stderr: relay.stderr() }).toEqual({ code: 0, signal: null, stderr: '' });
  const at = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
  const [start, ...rest] = relay.lines;
  const stop = rest.pop();
  expect(start).toMatch(
    new RegExp(
      `^${at} relay started: every 3600000 ms, listen on, change log of postgres://\\S+ \\(schema ${name}\\), keyPrefix ${name}$`,
    ),
  );
  // Quiet while idle: between start and stop, only passes that applied something or hit the gap.
  // (Other apps' NOTIFYs on this database wake it too, and a transaction open elsewhere can make a
  // pass read the update again: applying a change twice is harmless, so it may print twice.)
  expect(rest.length).toBeGreaterThanOrEqual(2);
  for (const line of rest)
    expect(line).toMatch(
      new RegExp(
        `^${at} pass: (gap \\(every cached row dropped\\), 0|[1-9]\\d*) change\\(s\\) applied, lag \\d+ ms$`,
      ),
    );
  const stopped = new RegExp(
    `^${at} relay stopped on SIGTERM: \\d+ pass\\(es\\), ([1-9]\\d*) change\\(s\\) applied, 1 gap\\(s\\), 0 error\\(s\\)$`,
  ).exec(stop ?? '');
  expect(stopped, stop).not.toBeNull();
});

it('--once: one pass as a JSON line, exit 0; the instance serves the change', async () => {
  await cached('p1', 2);
  await space.pool.query(`update "${name}".players set level = 3 where id = 'p1'`);
  const outcome = await cli(['relay', '--once', '--json']);
  expect(outcome).toMatchObject({ code: 0, stderr: '' });
  const lines = outcome.stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  const pass = JSON.parse(lines[0]!);
  expect(pass).toMatchObject({ event: 'pass', status: 'applied', gap: false });
  expect(pass.changes).toBeGreaterThanOrEqual(1); // the earlier update may be read again (see above)
  await servedLevel('p1', 3);
});

it('--once exits 1 when capture is not installed where the config points', async () => {
  // Another key prefix and Postgres schema: a relay with no log to read.
  const outcome = await cli(['relay', '--once'], `${name}_nolog`);
  expect(outcome.code).toBe(1);
  expect(outcome.stdout).toMatch(
    /Z pass skipped: change capture is not installed \(strata capture install\); polling until it is\n$/,
  );
  expect(outcome.stderr).toBe('strata: relay: change capture is not installed: run strata capture install\n');
});

it('bad flags are usage errors: exit 2 with a clear message', async () => {
  const bad = await cli(['relay', '--interval', 'soon']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(
    /^strata: --interval must be a duration above 0 such as 500ms, 2s or 1m, not "soon"\n/,
  );
  expect(bad.stderr).toContain('relay [--interval <duration>] [--once]');
  expect((await cli(['relay', '--interval', '0ms'])).code).toBe(2);
  expect((await cli(['relay', 'now'])).stderr).toMatch(/^strata: relay takes 0 argument\(s\), got 1\n/);
  expect((await cli(['status', '--once'])).stderr).toMatch(/^strata: --once applies to relay only\n/);
  expect((await cli(['warm', 'players', '--interval', '1s'])).stderr).toMatch(
    /^strata: --interval applies to relay only\n/,
  );
});
