import { expect, it } from 'vitest';
import { progress } from '../src/cli/progress.js';

function output(isTTY: boolean) {
  const written: string[] = [];
  return { out: { isTTY, write: (text: string) => written.push(text) }, written };
}

it('draws a bar redrawn in place on a terminal, ending with a newline', () => {
  const { out, written } = output(true);
  const bar = progress(out, 'warm players', 1000);
  bar.advance(500);
  bar.advance(500);
  bar.done();
  expect(written).toEqual([
    `\rwarm players [${'#'.repeat(15)}${'-'.repeat(15)}]  50% 500/1000`,
    `\rwarm players [${'#'.repeat(30)}] 100% 1000/1000`,
    '\n',
  ]);
});

it('writes one plain line per step elsewhere, and nothing more at the end', () => {
  const { out, written } = output(false);
  const bar = progress(out, 'warm players', 700);
  bar.advance(500);
  bar.advance(200);
  bar.done();
  expect(written).toEqual(['warm players: 500/700\n', 'warm players: 700/700\n']);
});

it('an empty table still shows a finished bar on a terminal', () => {
  const { out, written } = output(true);
  progress(out, 'warm empty', 0).done();
  expect(written).toEqual([`\rwarm empty [${'#'.repeat(30)}] 100% 0/0\n`]);
});
