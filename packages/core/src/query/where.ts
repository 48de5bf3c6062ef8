import { is, SQL, sql } from 'drizzle-orm';
import { invalidQuery } from './invalid.js';
import type { WhereText } from './types.js';
import { checkWhereArg } from './where-args.js';
import { scanWhere } from './where-scanner.js';

/**
 * WHERE text with `$n` placeholders and its arguments as a Drizzle `SQL`, wrapped in parentheses. The text
 * between placeholders becomes `sql.raw` chunks; every argument is a bound parameter (`sql.param`),
 * never spliced into the text, so a value cannot change the statement. A `$n` used twice binds its
 * value twice. The text itself is trusted code, like a prepared statement: it is checked for shape
 * (see `scanWhere`), not for which columns it names.
 *
 * Throws INVALID_QUERY (`details.field: 'where'`) for a placeholder without an argument, `$0`, an
 * argument no placeholder uses, `;`, comments, unterminated quotes, empty or over-long text, and
 * arguments a driver cannot bind as one value.
 *
 * @example
 * const cond = whereToSql('region = $1 AND level > $2', ['eu-west', 10]);
 * new PgDialect().sqlToQuery(cond); // { sql: '(region = $1 AND level > $2)', params: ['eu-west', 10] }
 */
export function whereToSql(text: string, args: readonly unknown[]): SQL {
  if (!Array.isArray(args)) throw invalidQuery('where', 'where: arguments must be an array');
  const parts = scanWhere(text);
  args.forEach((arg, i) => {
    checkWhereArg(arg, i + 1);
  });
  const used = new Set<number>();
  const chunks: SQL[] = [sql.raw('(')];
  for (const part of parts) {
    if (typeof part === 'string') {
      if (part !== '') chunks.push(sql.raw(part));
      continue;
    }
    if (part > args.length) {
      throw invalidQuery('where', `where: $${part} has no argument (${args.length} given)`, {
        argument: part,
      });
    }
    used.add(part);
    chunks.push(sql`${sql.param(args[part - 1])}`);
  }
  chunks.push(sql.raw(')'));
  // `?` placeholders (mysql2, SQLite, JDBC) leave every argument unused: say what to write instead.
  // A `?` beside real `$n` placeholders is jsonb's operator, not a mistake.
  const hint =
    used.size === 0 && parts.some((part) => typeof part === 'string' && part.includes('?'))
      ? ': write $1, $2, … for the arguments, not ?'
      : '';
  for (let n = 1; n <= args.length; n++) {
    if (!used.has(n)) {
      throw invalidQuery('where', `where: argument $${n} is not used by any placeholder${hint}`, {
        argument: n,
      });
    }
  }
  return sql.join(chunks);
}

/** True for a Drizzle `SQL` (from any copy of drizzle-orm), false for anything else — never throws. */
export function isDrizzleSql(value: unknown): value is SQL {
  // `is()` reads the prototype's constructor: an object without a prototype would make it throw.
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) === null) return false;
  return is(value, SQL);
}

/**
 * A query's `where` as a Drizzle `SQL`: text is compiled with `whereToSql`, a Drizzle `SQL` passes
 * through unchanged (it is the caller's code and binds its own values). Anything else is
 * INVALID_QUERY.
 */
export function whereConditionToSql(where: WhereText | SQL): SQL {
  if (isDrizzleSql(where)) return where;
  if (typeof where === 'object' && where !== null && 'text' in where && 'args' in where) {
    return whereToSql(where.text, where.args);
  }
  throw invalidQuery('where', 'where must be { text, args } or a Drizzle SQL condition');
}
