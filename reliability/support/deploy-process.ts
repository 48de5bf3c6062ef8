import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('../fixtures/deploy-node.mjs', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

/** A command of reliability/fixtures/deploy-node.mjs, without its sequence number. */
export type DeployCommand =
  | { op: 'set'; table: string; id: string; n: number }
  | { op: 'delete' | 'invalidate' | 'read'; table: string; id: string }
  | { op: 'tx'; writes: { table: string; id: string; n: number | null }[] }
  | { op: 'search'; table: string }
  | { op: 'flush' | 'close' };

export interface DeployReply {
  ok: boolean;
  value?: unknown;
  error?: string;
}

/**
 * A real Node process of the app (deploy-node.mjs) on the workspace sources, driven over stdin
 * and stdout: `send` resolves with the process's answer to one command. Killed by its PID only.
 */
export class DeployProcess {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (reply: DeployReply) => void>();
  #seq = 0;
  stderr = '';
  /** Lines the process printed that answered no command (unhandled rejections). */
  readonly strays: string[] = [];
  readonly ready: Promise<void>;

  constructor(args: readonly string[]) {
    this.#child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=strata-source', fixture, ...args],
      {
        cwd: root,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    this.#child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.ready = new Promise((resolve, reject) => {
      this.#waiting.set(0, () => resolve());
      this.#child.once('exit', (code) => reject(new Error(`exited ${code} before ready: ${this.stderr}`)));
    });
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      let reply: DeployReply & { seq: number };
      try {
        reply = JSON.parse(line);
      } catch {
        this.strays.push(line);
        return;
      }
      const resolve = this.#waiting.get(reply.seq);
      if (!resolve) this.strays.push(line);
      this.#waiting.delete(reply.seq);
      resolve?.(reply);
    });
  }

  send(command: DeployCommand): Promise<DeployReply> {
    const seq = ++this.#seq;
    return new Promise((resolve) => {
      this.#waiting.set(seq, resolve);
      this.#child.stdin!.write(`${JSON.stringify({ seq, ...command })}\n`);
    });
  }

  /** `send`, rejecting when the process answered with an error. */
  async ok(command: DeployCommand): Promise<unknown> {
    const reply = await this.send(command);
    if (!reply.ok) throw new Error(`${command.op}: ${reply.error}`);
    return reply.value;
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = once(this.#child, 'exit');
    await this.send({ op: 'close' });
    await exited;
  }

  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null)
      process.kill(this.#child.pid!, 'SIGKILL');
  }
}
