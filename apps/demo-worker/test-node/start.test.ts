import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// `npm start`'s script end to end: devstack, db:push, `wrangler dev` of the demo, seed, shutdown.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
// wrangler bundles the workspace packages from their dist: `npm test` builds them before vitest.
const needed = ['packages/devstack/dist/index.js', 'packages/core/dist', 'packages/adapter-workers/dist'];

let script: ChildProcess | undefined;
let output = '';
let wranglerGroup: number | undefined;

/** True while any process of the group exists (a zombie-free group is gone once kill(-pgid, 0) says ESRCH). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitFor<T>(what: string, ms: number, probe: () => T | undefined | Promise<T | undefined>) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((done) => setTimeout(done, 250));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}; output so far:\n${output}`);
}

afterAll(async () => {
  // Only when the test failed half-way: stop what this test started, by its own pids.
  if (script && script.exitCode === null && script.signalCode === null) {
    script.kill('SIGTERM');
    await waitFor(
      'start.mjs to exit',
      20_000,
      () => script!.exitCode ?? script!.signalCode ?? undefined,
    ).catch(() => script!.kill('SIGKILL'));
  }
  if (wranglerGroup !== undefined && groupAlive(wranglerGroup)) process.kill(-wranglerGroup, 'SIGKILL');
}, 30_000);

describe('npm start (scripts/start.mjs)', () => {
  it('serves the seeded demo, then stops wrangler, workerd and the devstack on SIGTERM', async () => {
    const missing = needed.filter((path) => !existsSync(join(root, path)));
    if (missing.length > 0) {
      throw new Error(`not built: ${missing.join(', ')}. Run \`npm run build\` first (npm test does).`);
    }

    const child = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    script = child;
    child.stdout!.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr!.on('data', (chunk) => {
      output += chunk;
    });

    const open = await waitFor('the "open" line', 75_000, () => {
      if (child.exitCode !== null) throw new Error(`start.mjs exited ${child.exitCode}:\n${output}`);
      return /^start: open (http:\/\/127\.0\.0\.1:\d+)\/players\/(\S+) /m.exec(output) ?? undefined;
    });
    const [, base, playerId] = open as RegExpExecArray;
    const pid = /^start: pid (\d+): npx wrangler dev/m.exec(output);
    expect(pid, output).not.toBeNull();
    wranglerGroup = Number(pid![1]);
    expect(groupAlive(wranglerGroup)).toBe(true);

    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);

    const player = await fetch(`${base}/players/${playerId}`);
    expect(player.status).toBe(200);
    expect(await player.json()).toMatchObject({ id: 'seed-ada', username: 'ada', email: 'ada@example.com' });

    // Scores are write-behind: the leaderboard shows them once the queue has flushed them to Postgres.
    const board = await waitFor('the seeded scores on /leaderboard', 30_000, async () => {
      const res = await fetch(`${base}/leaderboard?limit=100`);
      if (res.status !== 200) return undefined;
      const rows = (await res.json()) as { id: string; points: number }[];
      return rows.some((row) => row.id === 'seed-score-1') ? rows : undefined;
    });
    expect(board).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: 'seed-score-1', playerId: 'seed-ada', points: 4200 }),
        expect.objectContaining({ id: 'seed-score-2', playerId: 'seed-grace', points: 3900 }),
      ]),
    );

    const stats = await fetch(`${base}/stats`);
    expect(stats.status).toBe(200);

    child.kill('SIGTERM');
    const code = await waitFor('start.mjs to exit', 30_000, () =>
      child.exitCode !== null || child.signalCode !== null ? (child.exitCode ?? child.signalCode) : undefined,
    );
    expect(code, output).toBe(0);
    expect(output).toMatch(/process group \d+ is gone/);
    expect(output).toMatch(/devstack stopped/);
    // npx, wrangler, esbuild and both workerd processes were in that group: none may remain.
    expect(groupAlive(wranglerGroup)).toBe(false);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  }, 120_000);
});
