import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import { IDENTITY_WAIT_MS } from '../src/engine/l3-claim.js';
import { readYourWrites } from '../src/engine/replica-reads.js';
import { defineSchema, type Scheduler, Strata, type StrataConfig } from '../src/index.js';
import { GENERATION } from '../src/l2/scripts.js';
import { Q } from '../src/query/builder.js';
import { type DrivenWait, drivenScheduler } from '../testing/driven-scheduler.js';
import { deferred } from './support/deferred.js';
import { HeldSource, shortLeasePlan } from './support/held-source.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL2Run, wrapL3 } from './support/wrap.js';

// Core's waits for work another call began (a generation read, the keyPrefix claim's identity
// question, a writer claim, a replica's position read, a relay's poll) run on the timer the host
// lends (`scheduler.after`, driven here) and are counted on the engine's clock (manual here): the
// test ends each wait, and the caller goes on without the held work. Real Redis (the devstack's
// Upstash endpoint) and Postgres; the held work is a real call held before it is sent.

/** Long deadlines: a held call's own (runtime) deadline never ends it during a test. */
const L2_MS = 60_000;
const L3_MS = 50_000;

let stack: EngineStack;
const opened: Strata[] = [];
let prefixes = 0;

beforeAll(async () => {
  stack = await engineStack('core_waits');
  const { sessions, counters } = stack.tables;
  await new Strata({
    l3: stack.l3,
    schemas: [defineSchema({ table: sessions }), defineSchema({ table: counters })],
  }).migrate({ capture: true });
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await stack?.cleanup();
});

function open(scheduler: Scheduler, config: Partial<StrataConfig>) {
  const strata = new Strata({
    scheduler,
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: `${stack.keyPrefix}w${prefixes++}`,
    clock: manualClock(Date.now()),
    timeouts: { l2: L2_MS, l3: L3_MS },
    schemas: [defineSchema({ table: stack.tables.sessions })],
    ...config,
  });
  opened.push(strata);
  return strata;
}

/** The next wait of `ms` begun on the scheduler; others taken meanwhile (deadlines cancelled since) are passed over. */
async function waitOf(driven: ReturnType<typeof drivenScheduler>, ms: number): Promise<DrivenWait> {
  for (;;) {
    const wait = await driven.next();
    if (wait.ms === ms) return wait;
  }
}

const sessions = () => defineSchema({ table: stack.tables.sessions });

describe('a wait for work another call began', () => {
  it("the keyPrefix claim's identity question: a read waits for it on the host timer, then reads unchecked", async () => {
    const driven = drivenScheduler();
    const asked = deferred<void>();
    const answer = deferred<string>();
    const l3 = wrapL3(stack.l3, {
      identity: () => {
        asked.resolve();
        return answer.promise;
      },
    });
    const strata = open(driven.scheduler, { l3 });
    try {
      const read = strata.find(sessions(), 'id-1');
      await asked.promise;
      const wait = await waitOf(driven, IDENTITY_WAIT_MS);
      wait.task();
      // Ended by the test, the question still held: the read went on without it.
      expect(await read).toBeNull();
    } finally {
      answer.resolve(await stack.l3.identity!());
    }
  });

  it('a generation read out: a read shares it on the host timer, then reads its own', async () => {
    const driven = drivenScheduler();
    let reads = 0;
    let hold = false;
    const held = deferred<void>();
    const gate = deferred<void>();
    const l2 = wrapL2Run(stack.l2, async (script, _keys, run) => {
      if (script !== GENERATION) return run();
      reads += 1;
      if (hold) {
        hold = false;
        held.resolve();
        await gate.promise;
      }
      return run();
    });
    const clock = manualClock(Date.now());
    const strata = open(driven.scheduler, { l2, clock });
    expect(await strata.find(sessions(), 'gen-0')).toBeNull(); // checked: the claim's read done
    clock.advance(6_000); // the generation is read again at the next use
    hold = true;
    const first = strata.find(sessions(), 'gen-1');
    await held.promise;
    const second = strata.find(sessions(), 'gen-2');
    const wait = await waitOf(driven, IDENTITY_WAIT_MS + L2_MS);
    expect(reads).toBe(2);
    wait.task();
    expect(await second).toBeNull();
    expect(reads).toBe(3);
    gate.resolve();
    expect(await first).toBeNull();
  });

  it('a writer claim out: a write waits for it on the host timer, then claims on its own', async () => {
    const driven = drivenScheduler();
    let claims = 0;
    const held = deferred<void>();
    const gate = deferred<void>();
    const l3 = wrapL3(stack.l3, {
      claimWriter: async (...args) => {
        claims += 1;
        if (claims === 1) {
          held.resolve();
          await gate.promise;
        }
        return stack.l3.claimWriter!(...args);
      },
    });
    const strata = open(driven.scheduler, { l3 });
    const write = strata.set(sessions(), { id: 'claim-1', userId: 'u1', data: null });
    await held.promise;
    const wait = await waitOf(driven, 2 * (L2_MS + L3_MS));
    expect(claims).toBe(1);
    wait.task();
    await write;
    expect(claims).toBe(2);
    gate.resolve();
    expect(await strata.get(sessions(), 'claim-1')).toMatchObject({ userId: 'u1' });
  });

  it("a replica's position read out: a routed read waits for it on the host timer, then reads it again", async () => {
    const driven = drivenScheduler();
    let positions = 0;
    const gate = deferred<void>();
    const held = deferred<void>();
    const replica = wrapL3(stack.l3, {
      walPosition: async () => {
        positions += 1;
        if (positions === 1) {
          held.resolve();
          await gate.promise;
        }
        return stack.l3.walPosition!();
      },
    });
    const onReplica = defineSchema({ table: stack.tables.sessions, l1: false, l3: { readReplica: replica } });
    const strata = open(driven.scheduler, { l2: undefined, schemas: [onReplica], replicas: readYourWrites });
    await strata.set(onReplica, { id: 'rep-1', userId: 'u2', data: null });
    const search = strata.search(onReplica, Q().where('id = $1', 'rep-1').build());
    await held.promise;
    const wait = await waitOf(driven, L3_MS);
    wait.task();
    expect(await search).toMatchObject([{ id: 'rep-1', userId: 'u2' }]);
    expect(positions).toBe(2);
    gate.resolve();
  });

  it("a relay's poll out: another poll waits for it on the host timer for the lease, then polls on its own", async () => {
    const driven = drivenScheduler();
    const LEASE_MS = 30_000;
    const source = new HeldSource(stack.l3.capture!.source());
    const strata = open(driven.scheduler, {
      schemas: [defineSchema({ table: stack.tables.counters })],
      capture: { source, relay: shortLeasePlan(LEASE_MS) },
    });
    const ran = source.hold();
    const first = strata.relayChanges();
    await ran;
    const second = strata.relayChanges();
    const wait = await waitOf(driven, LEASE_MS);
    wait.task();
    // Its own poll: the first one still holds the lease.
    expect(await second).toEqual({ status: 'busy' });
    source.release();
    expect(await first).toMatchObject({ status: 'applied' });
  });
});
