import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { taggedWriteBehindSuite } from '../support/tagged-write-behind-suite.js';

// Hostile round 10 (write-through): batches whose Redis is SIGKILLed (and restarted on its AOF)
// while they are under way, with the other instances holding the batch's older rows in L1 and L2.
// Bus messages published while Redis is down are lost: the restart itself must drop them (a
// restart is an invalidation event). A write-through write commits to Postgres whatever L2 does
// ("L2 down: writes still commit to L3"), so a batch that failed may have committed in part or
// whole: Postgres is the reference, and every tier must come to it.

const suite = taggedWriteBehindSuite('probe_hostile10_wt', 'write-through');
const { schema, n } = suite;
/** Reads after a restart may wait for a writer to put its pending rows back (REPLACED_WAIT_MS). */
const AFTER_RESTART_MS = 5_000;

const range = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

/** `converge`'s answer: the time it took, or the reads that still disagreed (a string) at its deadline. */
function converged(took: unknown, what: string): void {
  expect(typeof took === 'string' ? took : 'agreed', what).toBe('agreed');
}

async function settled(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return String((err as { code?: unknown }).code ?? err);
  }
}

describe('write-through batches straddling a Redis SIGKILL (restarted on its AOF)', () => {
  it.each([0, 5, 20])(
    'killed %i ms into it: every instance comes to what Postgres holds',
    async (delay) => {
      const { a, b, c, all, id, fresh } = await suite.three();
      const later = () => new Promise((r) => setTimeout(r, delay)).then(() => suite.restartRedis(all));
      const ids = range(id('t'), 600);
      await a.setMany(
        schema,
        ids.map((x) => ({ id: x, n: 1 })),
      );
      const sample = ids.filter((_, i) => i % 29 === 0);
      for (const x of [b, c]) for (const k of sample) expect(await n(x, k)).toBe(1); // cached in L1 and L2
      const [set] = await Promise.all([
        settled(
          a.setMany(
            schema,
            ids.map((x, i) => ({ id: x, n: i + 2 })),
          ),
        ),
        later(),
      ]);
      const afterSet = await suite.stored(sample);
      if (set === 'ok')
        expect(afterSet, 'acknowledged: committed').toEqual(
          Object.fromEntries(sample.map((k) => [k, ids.indexOf(k) + 2])),
        );
      converged(
        await suite.converge({ A: a, B: b, C: c, fresh: fresh() }, afterSet, AFTER_RESTART_MS),
        `set ${set}: every tier at Postgres`,
      );

      const gone = sample.slice(0, 10);
      const [del] = await Promise.all([settled(b.deleteMany(schema, gone)), later()]);
      const afterDel = await suite.stored(sample);
      if (del === 'ok') for (const k of gone) expect(afterDel[k], `acknowledged delete of ${k}`).toBeNull();
      converged(
        await suite.converge({ A: a, B: b, C: c, fresh: fresh() }, afterDel, AFTER_RESTART_MS),
        `delete ${del}: every tier at Postgres`,
      );
    },
    60_000,
  );

  it('a transaction over both keys while Redis is killed: every instance comes to what Postgres holds', async () => {
    const { a, b, c, all, id, fresh } = await suite.three();
    const [k, j] = [id('k'), id('j')];
    await a.setMany(schema, [
      { id: k, n: 1 },
      { id: j, n: 1 },
    ]);
    for (const x of all) expect([await n(x, k), await n(x, j)]).toEqual([1, 1]);
    const [tx] = await Promise.all([
      settled(b.tx().set(schema, { id: k, n: 2 }).delete(schema, j).commit()),
      suite.restartRedis(all),
    ]);
    const stored = await suite.stored([k, j]);
    if (tx === 'ok') expect(stored).toEqual({ [k]: 2, [j]: null });
    converged(
      await suite.converge({ A: a, B: b, C: c, fresh: fresh() }, stored, AFTER_RESTART_MS),
      `tx ${tx}`,
    );
  }, 30_000);

  // Deterministic: A's batch (or transaction) commits in Postgres, and Redis dies before A hears
  // the reply, so A's L2 writes and its bus message meet a dead Redis; Redis comes back (AOF: the
  // older rows and their versions as they were) only after A settled.
  for (const op of ['setMany', 'deleteMany', 'tx'] as const)
    it(`${op}: Redis killed between the commit and its L2 writes: every instance comes to Postgres`, async () => {
      let held!: ReturnType<typeof heldL3>;
      const { a, b, c, all, id, fresh } = await suite.three([
        (base) => {
          held = heldL3(base, 'reply');
          return held.l3;
        },
      ]);
      const ids = range(id('h'), 50);
      await a.setMany(
        schema,
        ids.map((x) => ({ id: x, n: 1 })),
      );
      for (const x of all) for (const k of ids.slice(0, 5)) expect(await n(x, k)).toBe(1); // cached everywhere
      held.holdNext();
      const write =
        op === 'setMany'
          ? a.setMany(
              schema,
              ids.map((x) => ({ id: x, n: 2 })),
            )
          : op === 'deleteMany'
            ? a.deleteMany(schema, ids)
            : a.tx().set(schema, { id: ids[0]!, n: 2 }).delete(schema, ids[1]!).commit();
      const outcome = settled(write);
      await expect.poll(held.reached).toBe(true);
      let result = '';
      await suite.restartRedis(all, async () => {
        held.open();
        result = await outcome; // A settles with Redis down
      });
      const want = await suite.stored(ids);
      const changed =
        op === 'tx'
          ? { [ids[0]!]: 2, [ids[1]!]: null }
          : Object.fromEntries(ids.map((k) => [k, op === 'setMany' ? 2 : null]));
      expect(want, `committed (${result})`).toMatchObject(changed);
      const took = await suite.converge({ A: a, B: b, C: c, fresh: fresh() }, want, AFTER_RESTART_MS);
      converged(took, `${op} ${result}`);
    }, 30_000);
});

describe('one batch naming a key twice, the second a partial row (write-through)', () => {
  // See probe-hostile-10.test.ts: the later partial row of a key merges over its earlier row.
  for (const how of ['setMany', 'tx'] as const)
    it(`${how}: the later partial row merges over the earlier whole one, in every tier`, async () => {
      const { a, b, c, id, fresh } = await suite.three();
      const k = id('k');
      await a.set(schema, { id: k, n: 1, league: '7' });
      const rows = [{ id: k, n: 2, league: '8' }, { id: k, n: 3 } as never];
      if (how === 'setMany') await b.setMany(schema, rows);
      else await b.tx().set(schema, rows[0]!).set(schema, rows[1]!).commit();
      const seen = async () =>
        Promise.all(
          [a, b, c, fresh()].map(async (x) => {
            const row = await x.find(schema, k);
            return `${row?.n}/${row?.league}`;
          }),
        );
      await expect.poll(seen, { timeout: 1_500 }).toEqual(['3/8', '3/8', '3/8', '3/8']);
    }, 30_000);
});
