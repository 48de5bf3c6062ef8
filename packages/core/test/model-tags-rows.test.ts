import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, type InvalidationBus, Strata } from '../src/index.js';
import type { L3Tier } from '../src/l3/types.js';
import { createUpstashLogBus } from '../src/upstash/index.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL3 } from './support/wrap.js';

// Model-based run of tags on rows: 2 instances (a log bus read before every read), writes through
// Strata, changes made behind Strata's back, invalidateTags, and reads, some of them held out over
// Postgres while the rest runs. The rule: a read that starts after invalidateTags(t) returned
// answers, for a row tagged t, the value Postgres held when it was called, or a newer one; a read
// never answers a value older than the last write through Strata; and at the end, after one more
// invalidateTags of every tag, every instance reads what Postgres holds.

const INSTANCES = 2;
const IDS = 2;
const REGIONS = ['eu', 'us'] as const;
const RUNS = Number(process.env.TAGS_MODEL_RUNS ?? 40);

let stack: EngineStack;
let l3: L3Tier;
/** Reads of Postgres held until released (a read out while other commands run). */
const held: (() => void)[] = [];
let holdNext = false;
const channel = uniqueName('tags_model_log');
const buses: InvalidationBus[] = [];

beforeAll(async () => {
  stack = await engineStack('model_tags_rows');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
  l3 = wrapL3(stack.l3, {
    findMany: async (schema, ids) => {
      const hold = holdNext;
      holdNext = false;
      const rows = await stack.l3.findMany(schema, ids);
      if (hold) await new Promise<void>((resolve) => held.push(resolve));
      return rows;
    },
  });
});
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await new Redis(testDevstack().upstash!).del(channel);
  await stack?.cleanup();
});

const schema = () => defineSchema({ table: stack.tables.players, tags: (row) => [`region:${row.notes}`] });

interface Model {
  seq: number;
  /** The value (sequence number) Postgres holds per id. */
  pg: number[];
  /** The oldest value a read starting now may answer per id. */
  floor: number[];
  /** `inst:id` of the held reads out: another read there would join one and wait for it. */
  out: Set<string>;
}

interface Real {
  run: number;
  instances: Strata[];
  s: ReturnType<typeof schema>;
  out: { id: number; floor: number; read: Promise<{ username: string }> }[];
}

const idOf = (r: Real, id: number) => `m${r.run}-${id}`;
const regionOf = (id: number) => REGIONS[id % REGIONS.length]!;
/** Usernames are unique in the table: the value's sequence number, then the run and the id. */
const nameOf = (seq: number, r: Real, id: number) => `v${seq}_${r.run}_${id}`;
const seqOf = (username: string) => Number(username.slice(1).split('_')[0]);

class Write implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly inst: number,
    readonly id: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    m.seq += 1;
    await r.instances[this.inst]!.set(r.s, {
      id: idOf(r, this.id),
      username: nameOf(m.seq, r, this.id),
      notes: regionOf(this.id),
      level: 1,
    });
    m.pg[this.id] = m.seq;
    m.floor[this.id] = m.seq;
  }
  toString = () => `write(${this.inst}, ${this.id})`;
}

class Outside implements fc.AsyncCommand<Model, Real> {
  constructor(readonly id: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    m.seq += 1;
    const t = stack.tables.players;
    await stack.db
      .update(t)
      .set({ username: nameOf(m.seq, r, this.id) })
      .where(eq(t.id, idOf(r, this.id)));
    m.pg[this.id] = m.seq;
  }
  toString = () => `outside(${this.id})`;
}

class Invalidate implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly inst: number,
    readonly region: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const region = REGIONS[this.region]!;
    await r.instances[this.inst]!.invalidateTags([`region:${region}`]);
    ran.invalidations += 1;
    for (let id = 0; id < IDS; id++) if (regionOf(id) === region) m.floor[id] = m.pg[id]!;
  }
  toString = () => `invalidate(${this.inst}, ${REGIONS[this.region]})`;
}

/** What the run did, so the test can say the interesting commands ran. */
const ran = { invalidations: 0, heldReads: 0 };

class Read implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly inst: number,
    readonly id: number,
    readonly hold: boolean,
  ) {}
  check = (m: Readonly<Model>) => !m.out.has(`${this.inst}:${this.id}`);
  async run(m: Model, r: Real) {
    const floor = m.floor[this.id]!;
    if (!this.hold) {
      const row = await r.instances[this.inst]!.get(r.s, idOf(r, this.id));
      expect(seqOf(row.username), `${this} floor ${floor}`).toBeGreaterThanOrEqual(floor);
      return;
    }
    // Evict what would answer above Postgres, so this read goes there and is held.
    holdNext = true;
    await r.instances[this.inst]!.invalidate(r.s, idOf(r, this.id));
    const before = held.length;
    const read = r.instances[this.inst]!.get(r.s, idOf(r, this.id));
    r.out.push({ id: this.id, floor, read });
    m.out.add(`${this.inst}:${this.id}`);
    // Wait until the read is held in Postgres (or answered by a cache: a concurrent fill).
    await Promise.race([
      read.then(
        () => undefined,
        () => undefined,
      ),
      new Promise<void>((resolve) => {
        const wait = () => (held.length > before ? resolve() : setImmediate(wait));
        wait();
      }),
    ]);
    if (held.length > before) ran.heldReads += 1;
    holdNext = false;
  }
  toString = () => `read(${this.inst}, ${this.id}${this.hold ? ', held' : ''})`;
}

class Release implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real) {
    m.out.clear();
    for (const release of held.splice(0)) release();
    for (const { id, floor, read } of r.out.splice(0)) {
      expect(seqOf((await read).username), `held read of ${id}`).toBeGreaterThanOrEqual(floor);
    }
  }
  toString = () => 'release';
}

const commands = [
  fc.tuple(fc.nat(INSTANCES - 1), fc.nat(IDS - 1)).map(([i, id]) => new Write(i, id)),
  fc.nat(IDS - 1).map((id) => new Outside(id)),
  fc.tuple(fc.nat(INSTANCES - 1), fc.nat(REGIONS.length - 1)).map(([i, g]) => new Invalidate(i, g)),
  fc.tuple(fc.nat(INSTANCES - 1), fc.nat(IDS - 1), fc.boolean()).map(([i, id, h]) => new Read(i, id, h)),
  fc.constant(new Release()),
];

describe('tags on rows, model-based', () => {
  it('reads after invalidateTags answer what Postgres held then or newer; held reads cache nothing stale', async () => {
    const s = schema();
    const instances = Array.from({ length: INSTANCES }, () => {
      const bus = createUpstashLogBus({ ...testDevstack().upstash!, stream: channel });
      buses.push(bus);
      return new Strata({
        l2: stack.l2,
        l3,
        keyPrefix: `${stack.keyPrefix}m`,
        ttl: { l1: '10m', l2: '10m' },
        coherence: { bus, pollInterval: 0 },
        schemas: [s],
      });
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 30, size: 'max' }), async (cmds) => {
        run += 1;
        const real: Real = { run, instances, s, out: [] };
        const model: Model = { seq: 0, pg: [], floor: [], out: new Set() };
        // Every id exists before the commands (written through Strata: seq 1..IDS).
        for (let id = 0; id < IDS; id++) await new Write(0, id).run(model, real);
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          await new Release().run(model, real);
          for (const region of REGIONS) await instances[0]!.invalidateTags([`region:${region}`]);
          for (let id = 0; id < IDS; id++)
            for (const strata of instances)
              expect(seqOf((await strata.get(s, idOf(real, id))).username)).toBe(model.pg[id]);
        } finally {
          for (const release of held.splice(0)) release();
          await Promise.allSettled(real.out.map((o) => o.read));
          await Promise.all(instances.map((i) => i.settled()));
        }
      }),
      { numRuns: RUNS },
    );
    expect(ran.invalidations).toBeGreaterThan(RUNS);
    expect(ran.heldReads).toBeGreaterThan(RUNS / 2);
    await Promise.all(instances.map((i) => i.close()));
  }, 120_000);
});
