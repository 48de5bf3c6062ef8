/** Where progress goes: stderr, a bar when it is a terminal, one line per step otherwise. */
interface ProgressOutput {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  advance(by: number): void;
  done(): void;
}

const WIDTH = 30;

/**
 * Counts towards `total`. A terminal gets a bar redrawn in place; a pipe or a file gets a plain
 * line per step, which reads well in CI logs.
 * @example const p = progress(process.stderr, 'warm players', 1000); p.advance(500); p.done();
 */
export function progress(out: ProgressOutput, label: string, total: number): Progress {
  let count = 0;
  const line = (): string => {
    if (!out.isTTY) return `${label}: ${count}/${total}\n`;
    const ratio = total === 0 ? 1 : Math.min(1, count / total);
    const filled = Math.round(ratio * WIDTH);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}`;
    return `\r${label} [${bar}] ${String(Math.round(ratio * 100)).padStart(3)}% ${count}/${total}`;
  };
  return {
    advance(by) {
      count += by;
      out.write(line());
    },
    done() {
      if (out.isTTY) out.write(count === 0 ? `${line()}\n` : '\n');
    },
  };
}
