import fc from 'fast-check';
import { batchCommands } from './deployment-batch-commands.js';
import { type Faults, holdNextCommitReply, within } from './deployment-faults.js';
import { LinkCutCmd, LinkCutFlushCmd } from './deployment-link-commands.js';
import { type DeploymentModel, ModelViolation, type TenantModel } from './deployment-model.js';
import type { AofRedis } from './deployment-redis.js';
import {
  type Deployment,
  INSTANCES,
  type Instance,
  type InstanceName,
  type RowView,
  runQuery,
  type Tenant,
  type TenantDatabases,
  tenantOf,
  view,
} from './deployment-stack.js';

/** What the commands act on. */
export interface DeploymentReal {
  dep: Deployment;
  dbs: TenantDatabases;
  redis: AofRedis;
  faults: Faults;
  /** Per tenant, the id prefix of this run (its searchCached query lists ids with it). */
  idPrefix: Record<Tenant, string>;
}

type Cmd = fc.AsyncCommand<DeploymentModel, DeploymentReal>;

const now = () => performance.now();
/** Longest any one Strata call may take here before the run fails as a hang. */
const CALL_MS = 15_000;
/** How long the late commit's reply is held. */
export const LATE_REPLY_MS = 300;
/** Redis back after a restart: connections ready, every bus subscribed again. */
const REDIS_BACK_MS = 10_000;

const instance = (r: DeploymentReal, name: InstanceName): Instance => r.dep.instances[name];
const tenantModel = (m: DeploymentModel, inst: InstanceName): TenantModel => m.tenants[tenantOf(inst)];
const keyOf = (m: DeploymentModel, inst: InstanceName, k: number) => m.keys[tenantOf(inst)][k]!;
const call = <T>(work: Promise<T>, what: string) => within(work, CALL_MS, what);

/** The createdAt a set resolved with (a transaction's commit resolves nothing: undefined). */
const createdAtOf = (row: unknown): number | undefined =>
  row && typeof row === 'object' ? (view(row as Record<string, unknown>)?.createdAt ?? undefined) : undefined;

function rowValue(key: string, tenant: Tenant, n: number, withNote: boolean) {
  return withNote ? { id: key, n, tenant, note: `note-${n}` } : { id: key, n, tenant };
}

class SetCmd implements Cmd {
  constructor(
    readonly inst: InstanceName,
    readonly key: number,
    readonly withNote: boolean,
  ) {}
  check = () => true;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const i = instance(r, this.inst);
    const key = keyOf(m, this.inst, this.key);
    const n = m.nextLevel++;
    const stored = await call(
      i.strata.set(i.schema, rowValue(key, i.tenant, n, this.withNote) as never),
      `${this}`,
    );
    const fact = { level: n, note: this.withNote ? `note-${n}` : undefined, createdAt: createdAtOf(stored) };
    tenantModel(m, this.inst).wrote(this.inst, key, [fact], now(), !m.queues(this.inst), `${this}`);
    m.writesAcknowledged += 1;
    m.operations += 1;
  }
  toString = () => `${this.withNote ? 'set' : 'setWithoutNote'}(${this.inst}, k${this.key})`;
}

class DeleteCmd implements Cmd {
  constructor(
    readonly inst: InstanceName,
    readonly key: number,
  ) {}
  check = () => true;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const i = instance(r, this.inst);
    const key = keyOf(m, this.inst, this.key);
    await call(i.strata.delete(i.schema, key), `${this}`);
    tenantModel(m, this.inst).wrote(
      this.inst,
      key,
      [{ level: null }],
      now(),
      !m.queues(this.inst),
      `${this}`,
    );
    m.writesAcknowledged += 1;
    m.operations += 1;
  }
  toString = () => `delete(${this.inst}, k${this.key})`;
}

function checkRead(
  m: DeploymentModel,
  inst: InstanceName,
  key: string,
  row: Record<string, unknown> | null,
  started: number,
  what: string,
): void {
  const t = tenantModel(m, inst);
  const v = view(row);
  t.checkOwn(`${what} on ${inst}`, key, v);
  if (t.read(inst, key, v?.n ?? null, started, m.boundMs, what) === 'stale') m.staleReads += 1;
}

class GetCmd implements Cmd {
  constructor(
    readonly inst: InstanceName,
    readonly key: number,
  ) {}
  check = () => true;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const i = instance(r, this.inst);
    const key = keyOf(m, this.inst, this.key);
    const started = now();
    const row = await call(i.strata.find(i.schema, key), `${this}`);
    checkRead(m, this.inst, key, row as Record<string, unknown> | null, started, `${this}`);
    m.operations += 1;
  }
  toString = () => `get(${this.inst}, k${this.key})`;
}

class GetManyCmd implements Cmd {
  constructor(
    readonly inst: InstanceName,
    readonly keys: readonly number[],
  ) {}
  check = () => true;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const i = instance(r, this.inst);
    const keys = this.keys.map((k) => keyOf(m, this.inst, k));
    const started = now();
    const rows = await call(i.strata.getMany(i.schema, keys), `${this}`);
    rows.forEach((row, j) => {
      checkRead(m, this.inst, keys[j]!, row as Record<string, unknown> | null, started, `${this}`);
    });
    m.operations += 1;
  }
  toString = () => `getMany(${this.inst}, [${this.keys.map((k) => `k${k}`).join(',')}])`;
}

class TxCmd implements Cmd {
  constructor(
    readonly inst: InstanceName,
    readonly setKey: number,
    readonly deleteKey: number,
  ) {}
  check = () => this.setKey !== this.deleteKey;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const i = instance(r, this.inst);
    const setKey = keyOf(m, this.inst, this.setKey);
    const deleteKey = keyOf(m, this.inst, this.deleteKey);
    const n = m.nextLevel++;
    await call(
      i.strata
        .tx()
        .set(i.schema, rowValue(setKey, i.tenant, n, true))
        .delete(i.schema, deleteKey)
        .commit(),
      `${this}`,
    );
    const at = now();
    const t = tenantModel(m, this.inst);
    // A committed transaction is in Postgres at once, whatever the schema's write mode.
    t.wrote(this.inst, setKey, [{ level: n, note: `note-${n}` }], at, true, `${this}`);
    t.wrote(this.inst, deleteKey, [{ level: null }], at, true, `${this}`);
    m.writesAcknowledged += 2;
    m.operations += 1;
  }
  toString = () => `tx(${this.inst}, set k${this.setKey}, delete k${this.deleteKey})`;
}

class InvalidateCmd implements Cmd {
  constructor(
    readonly inst: InstanceName,
    readonly key: number | 'all',
  ) {}
  check = () => true;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const i = instance(r, this.inst);
    const t = tenantModel(m, this.inst);
    const keys = this.key === 'all' ? t.keys : [keyOf(m, this.inst, this.key)];
    if (this.key === 'all') await call(i.strata.invalidateAll(i.schema), `${this}`);
    else await call(i.strata.invalidate(i.schema, keys[0]!), `${this}`);
    for (const key of keys) {
      // Write-behind: the unflushed writes were only in the caches; reads see Postgres until the flush.
      t.droppedUnflushed(key);
      t.raise(this.inst, key, t.inL3.get(key)!);
    }
    m.operations += 1;
  }
  toString = () =>
    this.key === 'all' ? `invalidateAll(${this.inst})` : `invalidate(${this.inst}, k${this.key})`;
}

class SearchCmd implements Cmd {
  constructor(readonly inst: InstanceName) {}
  check = () => true;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const i = instance(r, this.inst);
    const t = tenantModel(m, this.inst);
    const started = now();
    const rows = await call(i.strata.searchCached(i.schema, runQuery(r.idPrefix[i.tenant])), `${this}`);
    const byId = new Map<string, RowView>();
    for (const row of rows) {
      const v = view(row as Record<string, unknown>)!;
      if (!t.keys.includes(v.id)) {
        throw new ModelViolation(
          `${this} (tenant ${t.tenant}) listed ${JSON.stringify(v)}: no id of tenant ${t.tenant} in this run`,
        );
      }
      t.checkOwn(`${this}`, v.id, v);
      byId.set(v.id, v);
    }
    for (const key of t.keys) {
      const level = byId.get(key)?.n ?? null;
      // An app whose instances all queue reads its queued writes in searches (the pending index);
      // one that runs the schema in both modes does not yet on its write-through instances
      // (probe-mixed-search-pending.test.ts, open): what Postgres held since the last flush.
      if (m.queuesAny(t.tenant) && !t.instances.every((n) => m.queues(n)))
        t.readFromL3(this.inst, key, level, `${this}`);
      else if (t.read(this.inst, key, level, started, m.boundMs, `${this}`, false) === 'stale')
        m.staleReads += 1;
    }
    m.operations += 1;
  }
  toString = () => `searchCached(${this.inst})`;
}

async function flushApp(m: DeploymentModel, r: DeploymentReal, tenant: Tenant): Promise<void> {
  const i = instance(r, tenant === 'a' ? 'A1' : 'B1');
  await call(i.strata.flushDirty(), `flush(app ${tenant.toUpperCase()})`);
  m.tenants[tenant].flushed(now());
}

class FlushCmd implements Cmd {
  constructor(readonly tenant: Tenant) {}
  check = () => true;
  async run(m: DeploymentModel, r: DeploymentReal) {
    await flushApp(m, r, this.tenant);
    m.operations += 1;
  }
  toString = () => `flush(app ${this.tenant.toUpperCase()})`;
}

/**
 * A2 writes `key` (write-behind: in a transaction, which commits to Postgres at once); its Postgres
 * reply is held after the commit, and A1 writes the same key meanwhile; then the reply goes on.
 * Both writes are acknowledged and overlap in time: either order is acceptable.
 */
class LateCommitCmd implements Cmd {
  constructor(readonly key: number) {}
  check = () => true;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const a1 = instance(r, 'A1');
    const a2 = instance(r, 'A2');
    const key = m.keys.a[this.key]!;
    const late = m.nextLevel++;
    const meanwhile = m.nextLevel++;
    // A transaction on a write-behind key is ordered after the key's queued writes but replaces them
    // (README, write-behind: columns it leaves out, such as the first autoNowAdd, keep what Postgres
    // has): flushing first keeps this command about the late reply alone.
    if (m.queuesAny('a')) await flushApp(m, r, 'a');
    const lateValue = rowValue(key, 'a', late, true);
    const [lateStored, meanwhileStored] = await heldReplyWhile(
      r,
      `${this}`,
      () =>
        m.queues('A2')
          ? a2.strata.tx().set(a2.schema, lateValue).commit()
          : a2.strata.set(a2.schema, lateValue as never),
      () => a1.strata.set(a1.schema, rowValue(key, 'a', meanwhile, true) as never),
    );
    const t = m.tenants.a;
    const facts = [
      { level: late, note: `note-${late}`, createdAt: createdAtOf(lateStored) },
      { level: meanwhile, note: `note-${meanwhile}`, createdAt: createdAtOf(meanwhileStored) },
    ];
    t.wrote('A2', key, facts, now(), !m.queuesAny('a'), `${this}`);
    t.refreshed('A1', key);
    m.writesAcknowledged += 2;
    m.operations += 2;
    m.faultsInjected += 1;
  }
  toString = () => `lateCommit(A2 reply held ${LATE_REPLY_MS} ms, A1 meanwhile, k${this.key})`;
}

/**
 * A2's `write` whose Postgres reply is held after its commit (A2's proxy) while A1's `meanwhile`
 * write runs, LATE_REPLY_MS in all; then the reply goes on. Resolves what both resolved.
 */
export async function heldReplyWhile(
  r: DeploymentReal,
  what: string,
  write: () => Promise<unknown>,
  meanwhile: () => Promise<unknown>,
): Promise<[unknown, unknown]> {
  const hold = holdNextCommitReply(r.dep.proxy);
  const late = write();
  late.catch(() => {});
  let meanwhileWrite: Promise<unknown> | undefined;
  try {
    await within(hold.fired, 5_000, `${what}: A2's committed reply`);
    const heldAt = now();
    meanwhileWrite = meanwhile();
    meanwhileWrite.catch(() => {});
    // A1's write goes on while A2's reply is held (today it is acknowledged well within the hold;
    // a protocol that made it wait for A2 would still not deadlock: the reply is released anyway).
    await Promise.race([meanwhileWrite, new Promise((resolve) => setTimeout(resolve, LATE_REPLY_MS))]);
    const left = LATE_REPLY_MS - (now() - heldAt);
    // The fault itself: the reply stays held this long (not a wait for something to happen).
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
  } finally {
    hold.release();
  }
  const lateStored = await call(late, `${what}: A2's write`);
  return [lateStored, meanwhileWrite && (await call(meanwhileWrite, `${what}: A1's set`))];
}

/**
 * A2 (clock 10 s ahead) and A1 (7 s behind) write `key`, one after the other: the second write is
 * the last, whichever clock says it is older (by 17 s when A2 wrote first).
 */
class SkewedWritesCmd implements Cmd {
  constructor(
    readonly key: number,
    readonly aheadFirst: boolean,
  ) {}
  check = () => true;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const t = m.tenants.a;
    const key = m.keys.a[this.key]!;
    for (const name of this.aheadFirst ? (['A2', 'A1'] as const) : (['A1', 'A2'] as const)) {
      const i = instance(r, name);
      const n = m.nextLevel++;
      const stored = await call(
        i.strata.set(i.schema, rowValue(key, 'a', n, true) as never),
        `${this}: ${name}'s set`,
      );
      t.wrote(
        name,
        key,
        [{ level: n, note: `note-${n}`, createdAt: createdAtOf(stored) }],
        now(),
        !m.queues(name),
        `${this}: ${name}`,
      );
      m.writesAcknowledged += 1;
      m.operations += 1;
    }
    m.faultsInjected += 1;
  }
  toString = () =>
    this.aheadFirst
      ? `skewedWrites(A2 +10 s then A1 -7 s, k${this.key})`
      : `skewedWrites(A1 -7 s then A2 +10 s, k${this.key})`;
}

/** Waits until every instance's bus has subscribed again after a Redis restart (it calls gap()). */
async function redisBack(r: DeploymentReal, gapsBefore: readonly number[]): Promise<void> {
  await r.dep.redisReady(REDIS_BACK_MS);
  const deadline = now() + REDIS_BACK_MS;
  for (;;) {
    const behind = INSTANCES.filter((n, j) => r.dep.instances[n].strata.stats().busGaps <= gapsBefore[j]!);
    if (behind.length === 0) return;
    if (now() > deadline)
      throw new Error(`after the Redis restart, ${behind.join(', ')} never subscribed again`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const gaps = (r: DeploymentReal) => INSTANCES.map((n) => r.dep.instances[n].strata.stats().busGaps);

/** SIGKILL of the redis-server, restarted on the same AOF (appendfsync always: nothing lost). */
class RedisRestartCmd implements Cmd {
  check = (m: Readonly<DeploymentModel>) => m.restarts < 1;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const before = gaps(r);
    try {
      await r.redis.kill();
    } finally {
      await r.redis.start();
    }
    await redisBack(r, before);
    m.restarts += 1;
    m.faultsInjected += 1;
  }
  toString = () => 'redisRestart(SIGKILL, same AOF)';
}

/** Every app flushes; then the redis-server restarts with nothing (its AOF directory deleted). */
class RedisDataLossCmd implements Cmd {
  check = (m: Readonly<DeploymentModel>) => m.dataLosses < 1;
  async run(m: DeploymentModel, r: DeploymentReal) {
    await flushApp(m, r, 'a');
    await flushApp(m, r, 'b');
    const before = gaps(r);
    try {
      await r.redis.kill();
      r.redis.wipe();
    } finally {
      await r.redis.start();
    }
    await redisBack(r, before);
    m.dataLosses += 1;
    m.faultsInjected += 1;
  }
  toString = () => 'redisDataLoss(after flushing every app: restarted empty)';
}

/** With other classes on, a link cut is picked once for this many gets in its slot. */
const LINK_DILUTION = 6;

/** The command arbitraries for the classes switched on. */
export function deploymentCommands(faults: Faults): fc.Arbitrary<Cmd>[] {
  const inst = fc.constantFrom<InstanceName>(...INSTANCES);
  const key = fc.nat({ max: 2 });
  const keySet = fc.uniqueArray(key, { minLength: 1, maxLength: 3 });
  const on = (c: Parameters<Faults['has']>[0]) => faults.has(c);
  const arbs: fc.Arbitrary<Cmd>[] = [
    fc.tuple(inst, key).map(([i, k]) => new SetCmd(i, k, true)),
    fc.tuple(inst, key).map(([i, k]) => new SetCmd(i, k, true)),
    fc.tuple(inst, key).map(([i, k]) => new DeleteCmd(i, k)),
    fc.tuple(inst, key).map(([i, k]) => new GetCmd(i, k)),
    fc.tuple(inst, key).map(([i, k]) => new GetCmd(i, k)),
    fc.tuple(inst, keySet).map(([i, ks]) => new GetManyCmd(i, ks)),
    fc.constantFrom<Tenant>('a', 'b').map((t) => new FlushCmd(t)),
    fc.constantFrom<Tenant>('a', 'b').map((t) => new FlushCmd(t)),
  ];
  if (on('applied-row') || on('row-fold'))
    arbs.push(fc.tuple(inst, key).map(([i, k]) => new SetCmd(i, k, false)));
  if (on('tx')) arbs.push(fc.tuple(inst, key, key).map(([i, a, b]) => new TxCmd(i, a, b)));
  if (on('invalidate')) {
    arbs.push(fc.tuple(inst, key).map(([i, k]) => new InvalidateCmd(i, k)));
    arbs.push(inst.map((i) => new InvalidateCmd(i, 'all')));
  }
  if (on('search')) arbs.push(inst.map((i) => new SearchCmd(i)));
  if (on('late-commit')) arbs.push(key.map((k) => new LateCommitCmd(k)));
  if (on('skew')) arbs.push(fc.tuple(key, fc.boolean()).map(([k, first]) => new SkewedWritesCmd(k, first)));
  if (on('redis-restart')) arbs.push(fc.constant(new RedisRestartCmd()));
  if (on('redis-data-loss')) arbs.push(fc.constant(new RedisDataLossCmd()));
  if (on('redis-link')) {
    // A link cut costs about a second (A2's refused write waits out its L2 timeout, then a held
    // reconnect): among other classes it is picked one time in LINK_DILUTION + 1 (a get otherwise),
    // which keeps the default run within its time budget; alone it is not diluted.
    const cut = key.map((k): Cmd => new LinkCutCmd(k));
    const alone = faults.size === 1;
    arbs.push(
      alone
        ? cut
        : fc.oneof(
            { arbitrary: cut, weight: 1 },
            { arbitrary: fc.tuple(inst, key).map(([i, k]): Cmd => new GetCmd(i, k)), weight: LINK_DILUTION },
          ),
    );
    arbs.push(fc.constant(new LinkCutFlushCmd()));
  }
  if (on('batch')) arbs.push(...batchCommands(on));
  return arbs;
}

const FIELDS_ALL: readonly (keyof RowView)[] = ['id', 'n', 'tenant', 'note', 'tag', 'createdAt'];
const FIELDS_BASE: readonly (keyof RowView)[] = ['id', 'n', 'tenant'];

function differs(a: RowView | null, b: RowView | null, fields: readonly (keyof RowView)[]): boolean {
  if (a === null || b === null) return a !== b;
  return fields.some((f) => a[f] !== b[f]);
}

const show = (v: RowView | null) =>
  v === null
    ? 'absent'
    : JSON.stringify({ ...v, createdAt: v.createdAt === null ? null : new Date(v.createdAt).toISOString() });

/**
 * The end of a run: every app flushes; Postgres must hold each key's last acknowledged write (one
 * of them for overlapping writes), of its own tenant (and, with `row-fold`, the note and createdAt the writes
 * leave); then, polling until `boundMs` + slack has passed, every instance's get, a fresh instance's
 * get (L2) and every instance's searchCached must agree with Postgres. Resolves how many keys'
 * writes were all found in Postgres.
 */
export async function settleAndCheck(
  m: DeploymentModel,
  r: DeploymentReal,
): Promise<{ keysFound: number; writesFound: number }> {
  await flushApp(m, r, 'a');
  await flushApp(m, r, 'b');
  const fields = r.faults.has('applied-row') ? FIELDS_ALL : FIELDS_BASE;
  const problems: string[] = [];
  const allIds = [...new Set([...m.keys.a, ...m.keys.b])];
  const tables: Record<Tenant, Map<string, RowView>> = {
    a: await r.dbs.rows('a', allIds),
    b: await r.dbs.rows('b', allIds),
  };
  // Each table must hold only its own tenant's rows (another app's flusher may have applied them).
  for (const tenant of ['a', 'b'] as const) {
    for (const row of tables[tenant].values()) {
      if (row.tenant !== tenant) problems.push(`CROSS-TENANT: tenant ${tenant}'s table holds ${show(row)}`);
    }
  }
  const own = (tenant: Tenant) =>
    new Map([...tables[tenant]].filter(([id]) => (m.keys[tenant] as readonly string[]).includes(id)));
  const pg: Record<Tenant, Map<string, RowView>> = { a: own('a'), b: own('b') };
  let keysFound = 0;
  let writesFound = 0;
  for (const tenant of ['a', 'b'] as const) {
    const t = m.tenants[tenant];
    for (const key of t.keys) {
      const stored = pg[tenant].get(key) ?? null;
      const latest = t.latest(key);
      const writes = t.entries(key).slice(1);
      const ok = latest.levels.includes(stored?.n ?? null) && (stored === null || stored.tenant === tenant);
      if (ok) {
        keysFound += 1;
        writesFound += writes.reduce((s, e) => s + e.levels.length, 0);
      } else {
        problems.push(
          `tenant ${tenant} ${key}: Postgres holds ${show(stored)}, but the last acknowledged write is ` +
            `${latest.levels.map(String).join(' or ')} (${latest.by}); writes: ${writes.map((e) => `${e.by}=${e.levels.map(String).join('|')}`).join(', ')}`,
        );
      }
      if (r.faults.has('row-fold') && stored && !latest.notes.has(stored.note)) {
        problems.push(
          `tenant ${tenant} ${key}: Postgres keeps note ${JSON.stringify(stored.note)}, but the acknowledged ` +
            `writes leave ${JSON.stringify([...latest.notes])}; writes: ${writes.map((e) => e.by).join(', ')}`,
        );
      }
      const createdAts = latest.createdAts;
      if (
        r.faults.has('row-fold') &&
        stored &&
        createdAts !== 'any' &&
        !createdAts.has(stored.createdAt ?? Number.NaN)
      ) {
        const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
        problems.push(
          `tenant ${tenant} ${key}: Postgres keeps createdAt ${iso(stored.createdAt)}, but the write that created ` +
            `the row had ${JSON.stringify([...createdAts].map(iso))}; writes: ${writes.map((e) => e.by).join(', ')}`,
        );
      }
    }
  }

  const fresh = { a: await r.dep.fresh('a'), b: await r.dep.fresh('b') };
  try {
    const deadline = now() + m.boundMs + 500;
    for (;;) {
      const disagree: string[] = [];
      for (const tenant of ['a', 'b'] as const) {
        const t = m.tenants[tenant];
        const readers = [
          ...t.instances.map((n) => ({
            name: `${n} get`,
            strata: r.dep.instances[n].strata,
            schema: r.dep.instances[n].schema,
          })),
          {
            name: `fresh ${tenant.toUpperCase()} get`,
            strata: fresh[tenant].strata,
            schema: fresh[tenant].schema,
          },
        ];
        for (const reader of readers) {
          const rows = await Promise.all(
            t.keys.map((key) => call(reader.strata.find(reader.schema, key), reader.name)),
          );
          t.keys.forEach((key, j) => {
            const got = view(rows[j] as Record<string, unknown> | null);
            const want = pg[tenant].get(key) ?? null;
            if (differs(got, want, fields)) {
              const cross = got !== null && got.tenant !== tenant ? 'CROSS-TENANT: ' : '';
              disagree.push(
                `${cross}tenant ${tenant} ${key}: ${reader.name} ${show(got)} vs Postgres ${show(want)}`,
              );
            }
          });
        }
        if (r.faults.has('search')) {
          for (const n of t.instances) {
            const i = r.dep.instances[n];
            const list = (
              await call(i.strata.searchCached(i.schema, runQuery(r.idPrefix[tenant])), `${n} searchCached`)
            ).map((row) => view(row as Record<string, unknown>)!);
            const want = [...pg[tenant].values()].sort((x, y) => (x.id < y.id ? -1 : 1));
            const same = list.length === want.length && list.every((v, j) => !differs(v, want[j]!, fields));
            if (!same) {
              const cross = list.some((v) => v.tenant !== tenant) ? 'CROSS-TENANT: ' : '';
              disagree.push(
                cross +
                  `tenant ${tenant}: ${n} searchCached [${list.map(show).join(', ')}] vs Postgres [${want.map(show).join(', ')}]`,
              );
            }
          }
        }
      }
      if (disagree.length === 0) break;
      if (now() > deadline) {
        problems.push(
          `${m.boundMs} ms after every app flushed, the tiers still disagree with Postgres:\n    ${disagree.join('\n    ')}`,
        );
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } finally {
    await fresh.a.close();
    await fresh.b.close();
  }
  if (problems.length > 0) throw new ModelViolation(`at the end of the run:\n  ${problems.join('\n  ')}`);
  return { keysFound, writesFound };
}
