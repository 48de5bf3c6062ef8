import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// Core runs in Workers, browsers and Node alike: only Web APIs. tsconfig (no node types) catches
// most of this at compile time; this catches what types alone would not (globals typed by DOM).
const FORBIDDEN: readonly [RegExp, string][] = [
  [/from\s+['"]node:/, 'a node: import'],
  [/(?:import|require)\(\s*['"]node:/, 'a node: import'],
  [
    /from\s+['"](?:fs|path|net|tls|http|https|crypto|child_process|os|stream|buffer|events|util|ioredis|pg|ws)['"]/,
    'a Node built-in or Node-only package',
  ],
  [/\bprocess\.(?:env|exit|on|nextTick|hrtime)\b/, 'process'],
  [/\bBuffer\./, 'Buffer'],
  [/\bsetInterval\(/, 'a timer that outlives a call'],
  [/\b__dirname\b|\b__filename\b/, 'CommonJS paths'],
];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

it('core source imports no runtime: Web APIs only', () => {
  const src = fileURLToPath(new URL('../src', import.meta.url));
  const files = sources(src);
  expect(files.length).toBeGreaterThan(5);
  const offences = files.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, i) =>
        FORBIDDEN.filter(([re]) => re.test(line)).map(
          ([, what]) => `${file}:${i + 1} uses ${what}: ${line.trim()}`,
        ),
      ),
  );
  expect(offences).toEqual([]);
});
