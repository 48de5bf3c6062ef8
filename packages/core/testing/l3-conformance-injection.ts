import { eq, inArray, isNotNull } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Row, SearchQuery } from '../src/l3/types.js';
import { type L3Suite, loggedSince, set, writeOne } from './l3-conformance-suite.js';
import { PEOPLE, type QueryModel } from './l3-conformance-tables.js';

/** Text that would change the statement if it were ever spliced into SQL. Postgres text holds no NUL. */
const CORPUS = [
  `'; DROP TABLE x; --`,
  '1 OR 1=1',
  `' OR '1'='1`,
  `\\'; select pg_sleep(5); --`,
  `"; drop table "texts"; --`,
  `') ; delete from texts where ('1'='1`,
  '$1',
  '$$ || pg_sleep(5) || $$',
  `E'\\x27' --`,
  '%',
  '_',
  '\\',
  '',
  ' ',
  'line\nbreak\ttab\rreturn',
  'ünïcødé ✓ 中文 עברית \u202e 🎉👩‍👩‍👧 \u0301',
  `'; DROP TABLE x; --`.repeat(5_000),
];

/** Every other corpus string is stored literally; the rest must match nothing. */
const STORED: Row[] = [
  ...CORPUS.flatMap((body, id) => (id % 2 === 0 ? [{ id, body }] : [])),
  { id: 1_000, body: null },
];

/** search() and count() with hostile strings as bound values: they match literally or not at all. */
export function registerInjectionTests(suite: L3Suite, q: QueryModel): void {
  const l3 = () => suite.l3();
  const texts = q.tables.texts;
  const all = { limit: 100, offset: 0 };
  const search = async (query: SearchQuery) => (await l3().search(q.texts, query)).map((s) => s.row);

  describe('injection corpus as bound values', () => {
    beforeAll(async () => {
      await l3().migrate([q.texts]);
      await writeOne(l3(), q.texts, ...STORED.map((row) => set(row)));
    });

    it('stores and returns every string exactly', async () => {
      expect(await search(all)).toEqual(STORED);
    });

    it('each string matches only the row that literally holds it, and is never in the SQL', {
      timeout: 60_000,
    }, async () => {
      for (const value of CORPUS) {
        const label = JSON.stringify(value.slice(0, 40));
        const expected = STORED.filter((r) => r.body === value);
        const mark = suite.log.length;
        const started = Date.now();
        expect(await search({ where: eq(texts.body, value), ...all }), label).toEqual(expected);
        expect(await l3().count(q.texts, eq(texts.body, value)), label).toBe(expected.length);
        expect(Date.now() - started, `${label} ran pg_sleep`).toBeLessThan(4_000);
        const statements = loggedSince(suite, mark, 'select');
        expect(statements, label).toHaveLength(2);
        for (const statement of statements) {
          expect(statement.params, label).toContain(value);
          // Short strings ("$1", "%", " ") occur in any SQL text; the others must not.
          if (value.length >= 5) expect(statement.query.includes(value), label).toBe(false);
        }
      }
    });

    it('the whole corpus as one list parameter matches exactly the stored strings', async () => {
      const where = inArray(texts.body, CORPUS);
      expect(await search({ where, ...all })).toEqual(STORED.filter((r) => r.body !== null));
      expect(await l3().count(q.texts, isNotNull(texts.body))).toBe(STORED.length - 1);
    });

    it('leaves every table intact', async () => {
      expect(await l3().count(q.texts)).toBe(STORED.length);
      expect(await search(all)).toEqual(STORED);
      expect(await l3().count(q.people)).toBe(PEOPLE);
    });
  });
}
