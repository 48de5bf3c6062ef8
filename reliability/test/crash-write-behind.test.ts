import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FaultScratch, faultScratch, Tally } from '../support/fault-harness.js';

// kill -9 of Node processes writing in write-behind mode (createStrata: durable Redis Stream queue,
// timer and threshold flushes) under concurrent load; a restarted writer is killed again while it
// writes and flushes; then a recovery process reclaims what the dead ones held and runs flushDirty().
// Every write a process printed as acknowledged must be in Postgres: counted one by one.

const fixture = fileURLToPath(new URL('../fixtures/crash-writer.mjs', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const children = new Set<ChildProcess>();
let store: FaultScratch;

beforeAll(async () => {
  store = await faultScratch('crash_wb');
});

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await store?.cleanup();
});

/** The fixture on the workspace sources (no build needed: what runs is what is tested). */
function run(args: readonly string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=strata-source', fixture, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.on('exit', (code) => {
    if (code !== null && code !== 0) console.error(`[crash fixture ${args[0]}] exited ${code}: ${stderr}`);
  });
  return child;
}

/**
 * Starts a writer, collects its acknowledgements into `tally` until it has made `atLeast` of them,
 * then kills it with SIGKILL (by its PID) and waits for it to be gone. A line that was not flushed
 * to the pipe before the kill counts as not acknowledged: the count can only err on the safe side.
 */
async function writeThenKill(tally: Tally, base: number, firstLane: number, atLeast: number): Promise<void> {
  const child = run([
    'write',
    store.name,
    store.redisUrl,
    store.databaseUrl,
    String(base),
    String(firstLane),
    '8',
  ]);
  const exited = once(child, 'exit');
  let acks = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`writer made ${acks} acks in 30 s`)), 30_000);
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`writer exited early after ${acks} acks`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [word, id, n] = line.split(' ');
      if (word !== 'ack' || !id || !n) return;
      tally.acked(id, Number(n));
      tally.operations++;
      if (++acks === atLeast) {
        clearTimeout(timer);
        resolve();
      }
    });
  }).finally(() => {
    process.kill(child.pid!, 'SIGKILL');
  });
  tally.fault();
  await exited;
  expect(child.signalCode).toBe('SIGKILL');
}

it('kill -9 twice under write-behind load, restart, flushDirty(): every acknowledged write is in Postgres', async () => {
  const t = new Tally('crash', 'kill -9 of write-behind writers (8 lanes) twice, then recover + flushDirty');
  // Lanes 0-7 (ids `0-*`..`7-*`), then lanes 4-11 after the restart: ids of lanes 0-3 hold only the
  // first writer's writes (a loss there shows), lanes 4-7 both (the newer must win), 8-11 the second's.
  await writeThenKill(t, 0, 0, 1_500);
  // Restarted under load, while the dead one's writes still wait in the stream.
  await writeThenKill(t, 1_000_000, 4, 1_500);

  const recovery = run(['recover', store.name, store.redisUrl, store.databaseUrl]);
  const lines: string[] = [];
  createInterface({ input: recovery.stdout! }).on('line', (line) => lines.push(line));
  const [code] = (await once(recovery, 'exit')) as [number | null];
  expect(code).toBe(0);
  const flushed = Number(lines.at(-1)?.split(' ')[1]);

  const stored = await store.stored();
  const found = t.found(stored);
  console.info(
    `[crash] acknowledged ${t.writesAcknowledged}, found ${found}, ids ${stored.size}, recovery: ${lines.at(-1)}`,
  );
  expect(t.missing(stored)).toEqual([]);
  expect(lines.at(-1)).toMatch(/^flushed \d+ pending 0$/);
  // The writes the dead processes had not flushed came back through the durable queue.
  expect(flushed).toBeGreaterThan(0);
  // Where both wrote, the restarted writer's (newer) values won over the dead one's queued writes.
  for (const [id, n] of stored) {
    const lane = Number(id.split('-')[0]);
    if (lane >= 4) expect(n, id).toBeGreaterThan(1_000_000);
    else expect(n, id).toBeLessThan(1_000_000);
  }
  expect(t.unhandledRejections).toBe(0);
  t.finish({ writesFound: found });
}, 90_000);
