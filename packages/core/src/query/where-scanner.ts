import { invalidQuery } from './invalid.js';

/** Longest WHERE text accepted: far above any hand-written condition, far below a DoS. */
const MAX_WHERE_LENGTH = 10_000;

/** Raw SQL text, or the 1-based number of a `$n` placeholder. */
type WherePart = string | number;

// Postgres' whitespace (scan.l); U+00A0 and friends are identifier characters there, not spaces.
const SPACE = /[ \t\n\r\f]/;
const DIGIT = /[0-9]/;
// After `$`: an optional tag and a closing `$` open a dollar-quoted string.
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;

const isIdentStart = (c: string) => /[A-Za-z_]/.test(c) || c.charCodeAt(0) >= 0x80;
const isIdentChar = (c: string) => isIdentStart(c) || /[0-9$]/.test(c);

const reject = (message: string, at?: number) =>
  invalidQuery('where', `where: ${message}`, at === undefined ? {} : { position: at });

/**
 * Splits WHERE text into raw text and `$n` placeholders, the way Postgres' lexer sees
 * it: `'…'` (with `''`), `E'…'` (with backslash escapes), `"…"` identifiers and `$tag$…$tag$`
 * strings are copied verbatim, `$n` inside an identifier (`a$1`) is part of it. Refuses what could
 * change the statement's shape: `;`, `--` and `/*` outside literals, unbalanced parentheses,
 * unterminated quotes, NUL, and `\'` in a plain literal (its meaning depends on
 * `standard_conforming_strings`). Whitespace runs collapse to one space (one newline when they had
 * one: `'a'\n'b'` is string continuation), so equal conditions render equal SQL.
 *
 * @example scanWhere("name = $1 AND tag <> '$2'"); // ['name = ', 1, " AND tag <> '$2'"]
 */
export function scanWhere(text: string): WherePart[] {
  if (typeof text !== 'string') throw reject('the condition must be a string');
  if (text.length > MAX_WHERE_LENGTH) throw reject(`longer than ${MAX_WHERE_LENGTH} characters`);
  if (text.includes('\u0000')) throw reject('contains a NUL character');

  const parts: WherePart[] = [];
  let buffer = '';
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1] ?? '';
    let end = i + 1;
    if (SPACE.test(c)) {
      while (end < text.length && SPACE.test(text[end]!)) end++;
      // Leading and trailing whitespace is dropped; positions in errors still count it.
      if (i > 0 && end < text.length) buffer += /[\n\r]/.test(text.slice(i, end)) ? '\n' : ' ';
      i = end;
      continue;
    }
    if (c === "'") end = stringEnd(text, i, false);
    else if (c === '"') end = quotedEnd(text, i);
    else if (isIdentStart(c)) {
      while (end < text.length && isIdentChar(text[end]!)) end++;
      if (end === i + 1 && (c === 'E' || c === 'e') && text[end] === "'") end = stringEnd(text, end, true);
    } else if (c === '$' && DIGIT.test(next)) {
      while (end < text.length && DIGIT.test(text[end]!)) end++;
      const n = Number(text.slice(i + 1, end));
      if (n === 0) throw reject(`$0 is not a placeholder: they start at $1`, i);
      if (end < text.length && isIdentChar(text[end]!)) throw reject(`junk after placeholder at ${i}`, i);
      parts.push(buffer, n);
      buffer = '';
      i = end;
      continue;
    } else if (c === '$') {
      DOLLAR_TAG.lastIndex = i;
      const tag = DOLLAR_TAG.exec(text)?.[0];
      if (tag !== undefined) {
        const close = text.indexOf(tag, i + tag.length);
        if (close < 0) throw reject(`unterminated dollar-quoted string at ${i}`, i);
        end = close + tag.length;
      }
    } else if (c === ';') throw reject(`statement separator ";" at ${i}: one condition only`, i);
    else if ((c === '-' && next === '-') || (c === '/' && next === '*')) {
      throw reject(`comment at ${i}: SQL comments are not allowed`, i);
    } else if (c === '(') depth++;
    else if (c === ')' && --depth < 0) throw reject(`unbalanced ")" at ${i}`, i);
    buffer += text.slice(i, end);
    i = end;
  }
  if (depth !== 0) throw reject('unbalanced "(": missing ")"');
  if (buffer !== '') parts.push(buffer);
  if (parts.length === 0) throw reject('the condition is empty');
  return parts;
}

/** Index just past the string literal whose opening quote is at `start`. */
function stringEnd(text: string, start: number, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\') {
      if (backslashEscapes) {
        i += 2;
        continue;
      }
      if (text[i + 1] === "'") {
        throw reject(
          `ambiguous \\' in the string literal at ${start}: pass the value as a $n argument`,
          start,
        );
      }
    } else if (c === "'") {
      if (text[i + 1] !== "'") return i + 1;
      i++;
    }
    i++;
  }
  throw reject(`unterminated string literal at ${start}`, start);
}

/** Index just past the `"identifier"` opening at `start` (`""` is a quote inside it). */
function quotedEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === '"') {
      if (text[i + 1] !== '"') return i + 1;
      i++;
    }
    i++;
  }
  throw reject(`unterminated quoted identifier at ${start}`, start);
}
