import fc from 'fast-check';
import { type DeploymentReal, heldReplyWhile } from './deployment-commands.js';
import { within } from './deployment-faults.js';
import { refusedThenSet } from './deployment-link-commands.js';
import type { DeploymentModel, WriteFact } from './deployment-model.js';
import { INSTANCES, type InstanceName, tenantOf, view } from './deployment-stack.js';

// The `batch` class of the deployment model (deployment-faults.ts): setMany (ids may repeat, each
// row with or without its note: a later row over the ones before it) and deleteMany by any
// instance; with `late-commit`, a setMany of A2 whose commit reply is held while A1 sets one of
// its keys; with `redis-link`, A2's deleteMany refused while its link to Redis is cut, then A1's
// set of one of its keys. Kept apart from deployment-commands.ts (which is long enough).

type Cmd = fc.AsyncCommand<DeploymentModel, DeploymentReal>;

const now = () => performance.now();
const CALL_MS = 15_000;

const createdAtOf = (row: unknown): number | undefined =>
  row && typeof row === 'object' ? (view(row as Record<string, unknown>)?.createdAt ?? undefined) : undefined;

const rowValue = (id: string, tenant: string, n: number, withNote: boolean) =>
  withNote ? { id, n, tenant, note: `note-${n}` } : { id, n, tenant };

class SetManyCmd implements Cmd {
  constructor(
    readonly inst: InstanceName,
    readonly rows: readonly { key: number; withNote: boolean }[],
  ) {}
  check = () => true;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const i = r.dep.instances[this.inst];
    const t = m.tenants[tenantOf(this.inst)];
    const rows = this.rows.map((x) => ({ ...x, id: t.keys[x.key]!, n: m.nextLevel++ }));
    const stored = await within(
      i.strata.setMany(i.schema, rows.map((x) => rowValue(x.id, i.tenant, x.n, x.withNote)) as never),
      CALL_MS,
      `${this}`,
    );
    const at = now();
    // Resolved one per id (the batch collapses repeats): the createdAt each key's row took.
    const createdAt = new Map(stored.map((s) => [view(s as never)?.id, createdAtOf(s)]));
    for (const x of rows) {
      const fact: WriteFact = {
        level: x.n,
        note: x.withNote ? `note-${x.n}` : undefined,
        createdAt: createdAt.get(x.id),
      };
      t.wrote(this.inst, x.id, [fact], at, !m.queues(this.inst), `${this}`);
      m.writesAcknowledged += 1;
    }
    m.operations += 1;
  }
  toString = () =>
    `setMany(${this.inst}, [${this.rows.map((x) => `k${x.key}${x.withNote ? '' : '-note'}`).join(',')}])`;
}

class DeleteManyCmd implements Cmd {
  constructor(
    readonly inst: InstanceName,
    readonly keys: readonly number[],
  ) {}
  check = () => true;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const i = r.dep.instances[this.inst];
    const t = m.tenants[tenantOf(this.inst)];
    const ids = this.keys.map((k) => t.keys[k]!);
    await within(i.strata.deleteMany(i.schema, ids), CALL_MS, `${this}`);
    const at = now();
    for (const id of ids) {
      t.wrote(this.inst, id, [{ level: null }], at, !m.queues(this.inst), `${this}`);
      m.writesAcknowledged += 1;
    }
    m.operations += 1;
  }
  toString = () => `deleteMany(${this.inst}, [${this.keys.map((k) => `k${k}`).join(',')}])`;
}

/**
 * A2's setMany of two keys (write-behind: a transaction, which commits at once) whose commit reply
 * is held while A1 sets the first of them; then the reply goes on. The first key's two writes
 * overlap (either order); the second is A2's.
 */
class LateSetManyCmd implements Cmd {
  constructor(readonly keys: readonly [number, number]) {}
  check = () => this.keys[0] !== this.keys[1];
  async run(m: DeploymentModel, r: DeploymentReal) {
    const a1 = r.dep.instances.A1;
    const a2 = r.dep.instances.A2;
    const t = m.tenants.a;
    const [shared, own] = this.keys.map((k) => t.keys[k]!) as [string, string];
    const late = [m.nextLevel++, m.nextLevel++] as const;
    const meanwhile = m.nextLevel++;
    // As lateCommit: queued writes first, so that this command is about the late reply alone.
    if (m.queuesAny('a')) {
      await within(a1.strata.flushDirty(), CALL_MS, `${this}: flush`);
      t.flushed(now());
    }
    const values = [rowValue(shared, 'a', late[0], true), rowValue(own, 'a', late[1], true)];
    const [, meanwhileStored] = await heldReplyWhile(
      r,
      `${this}`,
      () =>
        m.queues('A2')
          ? a2.strata.tx().set(a2.schema, values[0]!).set(a2.schema, values[1]!).commit()
          : a2.strata.setMany(a2.schema, values as never),
      () => a1.strata.set(a1.schema, rowValue(shared, 'a', meanwhile, true) as never),
    );
    const at = now();
    const inL3 = !m.queuesAny('a');
    t.wrote(
      'A2',
      shared,
      [
        { level: late[0], note: `note-${late[0]}` },
        { level: meanwhile, note: `note-${meanwhile}`, createdAt: createdAtOf(meanwhileStored) },
      ],
      at,
      inL3,
      `${this}`,
    );
    t.refreshed('A1', shared);
    t.wrote('A2', own, [{ level: late[1], note: `note-${late[1]}` }], at, inL3, `${this}`);
    m.writesAcknowledged += 3;
    m.operations += 2;
    m.faultsInjected += 1;
  }
  toString = () => `lateSetMany(A2 [k${this.keys[0]},k${this.keys[1]}] reply held, A1 sets k${this.keys[0]})`;
}

/** `linkCut` with A2's deleteMany of two keys (refused while cut), then A1's set of the first. */
class LinkCutDeleteManyCmd implements Cmd {
  constructor(readonly keys: readonly [number, number]) {}
  check = (m: Readonly<DeploymentModel>) => this.keys[0] !== this.keys[1] && m.linkCuts < 1;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const a2 = r.dep.instances.A2;
    const ids = this.keys.map((k) => m.tenants.a.keys[k]!);
    await refusedThenSet(m, r, `${this}`, ids, () => a2.strata.deleteMany(a2.schema, ids));
  }
  toString = () =>
    `linkCutDeleteMany(A2 cut, A2 deleteMany [k${this.keys[0]},k${this.keys[1]}] refused, A1 sets k${this.keys[0]})`;
}

/** The `batch` commands (with `late-commit` and `redis-link`, their batch variants too). */
export function batchCommands(on: (c: 'late-commit' | 'redis-link') => boolean): fc.Arbitrary<Cmd>[] {
  const inst = fc.constantFrom<InstanceName>(...INSTANCES);
  const key = fc.nat({ max: 2 });
  const two = fc.tuple(key, key).filter(([x, y]) => x !== y);
  const arbs: fc.Arbitrary<Cmd>[] = [
    fc
      .tuple(inst, fc.array(fc.record({ key, withNote: fc.boolean() }), { minLength: 1, maxLength: 4 }))
      .map(([i, rows]) => new SetManyCmd(i, rows)),
    fc
      .tuple(inst, fc.uniqueArray(key, { minLength: 1, maxLength: 3 }))
      .map(([i, ks]) => new DeleteManyCmd(i, ks)),
  ];
  if (on('late-commit')) arbs.push(two.map((ks) => new LateSetManyCmd(ks)));
  if (on('redis-link')) arbs.push(two.map((ks) => new LinkCutDeleteManyCmd(ks)));
  return arbs;
}
