import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * Where Node's parser stops in the JavaScript file `path`, 1-based; undefined when the file parses
 * (the syntax error is in a module it imports) or Node's report cannot be read. `import()` rejects
 * with a SyntaxError that names neither file nor line, so ask `node --check`, which prints
 * `file:line`, the source line, then a caret under the column.
 * @example syntaxErrorLocation('/app/strata.config.mjs'); // { line: 3, column: 12 }
 */
export function syntaxErrorLocation(path: string): { line: number; column: number } | undefined {
  const check = spawnSync(process.execPath, ['--check', path], { encoding: 'utf8', timeout: 10_000 });
  if (check.status === 0 || typeof check.stderr !== 'string') return undefined;
  const match = /^(.+):(\d+)\r?\n[^\n]*\n([ \t]*)\^/.exec(check.stderr);
  if (!match || resolve(match[1]!) !== resolve(path)) return undefined;
  return { line: Number(match[2]), column: match[3]!.length + 1 };
}
