import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEPLOY_TABLES, type DeployApp, deployApp, finalReads } from '../support/deploy-app.js';
import type { DeployCommand, DeployProcess } from '../support/deploy-process.js';

// Helper "deploy": three real Node processes of one app (createStrata, reliability/fixtures/
// deploy-node.mjs) on one Redis of the test's own (AOF, appendfsync always) and one Postgres, with
// clocks 9 s behind, right and 11 s ahead, over a write-through table and a write-behind table.
// Each phase gives every key index to one process (in turn), which runs a few seeded commands on
// it: set / delete / invalidate / read on either table, and transactions over both tables (mixed
// write modes). Faults: Redis SIGKILLed and restarted on its AOF between phases, and again while a
// phase runs; the processes' Postgres sessions terminated while a phase runs. Afterwards, with the
// queues flushed: Postgres holds every key's last acknowledged write (a command that failed may or
// may not have landed), and each process's reads (L1), a fresh process's reads (L2) and every
// process's searchCached agree with Postgres.

const KEYS = 8;
const PHASES = 8;
/** STRATA_DEPLOY_SEED replays another run (a failure prints its seed). */
const SEED = Number(process.env.STRATA_DEPLOY_SEED ?? 51205);
const OFFSETS = [-9_000, 0, 11_000];
const TABLES = DEPLOY_TABLES;
let app: DeployApp;

beforeAll(async () => {
  app = await deployApp('deploy_proc');
});

afterAll(async () => {
  await app?.cleanup();
});

type Op =
  | { kind: 'set' | 'delete' | 'invalidate' | 'read'; table: (typeof TABLES)[number] }
  | { kind: 'tx'; wt: boolean; wb: boolean };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('set' as const), table: fc.constantFrom(...TABLES) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom('delete' as const, 'invalidate' as const, 'read' as const),
      table: fc.constantFrom(...TABLES),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('tx' as const), wt: fc.boolean(), wb: fc.boolean() }),
  },
);

/** What Postgres may hold per `table/id`: the last acknowledged value, plus what failed after it. */
const possible = new Map<string, Set<number | null>>();
const keyOf = (table: string, id: string) => `${table}/${id}`;
/** Which process made a key's last acknowledged write (undefined once a write failed after it). */
const writer = new Map<string, DeployProcess | undefined>();
const settle = (key: string, value: number | null, ok: boolean, proc: DeployProcess) => {
  const now = possible.get(key) ?? new Set([null]);
  possible.set(key, ok ? new Set([value]) : now.add(value));
  writer.set(key, ok ? proc : undefined);
};
let counter = 0;
/** Reads by the writing process that did not answer its own last acknowledged write. */
const ownReads: string[] = [];

/** Runs one key index's commands of a phase on its owner, in order, and records what they left. */
async function runKey(
  proc: DeployProcess,
  id: string,
  ops: readonly Op[],
  failures: string[],
): Promise<void> {
  for (const op of ops) {
    let command: DeployCommand;
    let writes: { table: string; n: number | null }[] = [];
    if (op.kind === 'tx') {
      writes = TABLES.map((table) => ({ table, n: op[table] ? ++counter : null }));
      command = { op: 'tx', writes: writes.map((w) => ({ ...w, id })) };
    } else if (op.kind === 'set') {
      writes = [{ table: op.table, n: ++counter }];
      command = { op: 'set', table: op.table, id, n: writes[0]!.n! };
    } else {
      if (op.kind === 'delete') writes = [{ table: op.table, n: null }];
      command = { op: op.kind, table: op.table, id };
    }
    const reply = await proc.send(command);
    if (!reply.ok) failures.push(`${op.kind} ${id}: ${reply.error}`);
    for (const w of writes) settle(keyOf(w.table, id), w.n, reply.ok, proc);
    // Read-your-writes: the process that made the key's last acknowledged write reads it.
    const key = op.kind === 'tx' ? undefined : keyOf(op.table, id);
    if (op.kind === 'read' && reply.ok && key && writer.get(key) === proc) {
      const read = (reply.value as { n: number } | null)?.n ?? null;
      const acked = [...possible.get(key)!][0];
      if (read !== acked) ownReads.push(`${key}: read ${read}, its own last write ${acked}`);
    }
  }
}

it('three processes, skewed clocks, mixed write modes, Redis and Postgres cut mid-run: every tier ends equal to Postgres', async () => {
  const procs = await Promise.all(OFFSETS.map((offset) => app.spawn(offset)));
  const plan = fc.sample(
    fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), { minLength: KEYS, maxLength: KEYS }),
    {
      seed: SEED,
      numRuns: PHASES,
    },
  );
  const failures: string[] = [];
  for (const [phase, keys] of plan.entries()) {
    if (phase === 2) {
      await app.redis.kill();
      await app.redis.start();
    }
    const running = keys.map((ops, k) => runKey(procs[(k + phase) % procs.length]!, `k${k}`, ops, failures));
    if (phase === 3) {
      await app.cutPostgres();
    }
    if (phase === 4) {
      await app.redis.kill();
      await app.redis.start();
    }
    await Promise.all(running);
  }
  // Every process flushes what its app queued (any instance takes any write of the app's stream).
  for (const proc of procs) await proc.ok({ op: 'flush' });

  const inPostgres = await app.inPostgres(KEYS);
  const lost: string[] = [];
  for (const [key, value] of inPostgres) {
    const allowed = possible.get(key) ?? new Set([null]);
    if (!allowed.has(value)) lost.push(`${key}: Postgres ${value}, acknowledged ${[...allowed].join('|')}`);
  }
  console.info(
    `[deploy-processes] seed ${SEED}, failed commands (unacknowledged): ${failures.length}`,
    failures.slice(0, 4),
  );
  expect(lost).toEqual([]);
  expect(ownReads).toEqual([]);

  const found = await finalReads(app, procs, inPostgres);
  expect(found).toEqual(found.map((_, i) => ({ process: i, wrong: [], strays: [] })));
}, 90_000);
