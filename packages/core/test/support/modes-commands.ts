import type fc from 'fast-check';
import { expect } from 'vitest';
import type { Strata } from '../../src/index.js';
import type { ItemsSchema } from './modes-app.js';

// The commands of the write-modes models (one app writing one table in write-behind and
// write-through at once): model-write-modes.test.ts, and over a proxy that reorders requests,
// reliability/test/races-reorder-modes.test.ts.

export type Mode = 'behind' | 'through';

/** What the commands use of a model run: an instance per mode and the key of each id. */
export interface ModesReal {
  readonly behind: { strata: Strata; schema: ItemsSchema };
  readonly through: { strata: Strata; schema: ItemsSchema };
  readonly key: (id: number) => string;
}

/** The row each id's acknowledged writes leave (undefined: deleted or never written). */
export type ModesModel = ({ n: number; note: string | null } | undefined)[];

type Cmd = fc.AsyncCommand<ModesModel, ModesReal>;

let seq = 0;
/** The next value of `n`: every set writes a value no other set of the file wrote. */
export const nextN = () => ++seq;

/** A set of `key`: a whole row, or (`partial`) one leaving `note` out. */
export const row = (key: string, n: number, partial = false) =>
  partial ? { id: key, n } : { id: key, n, note: `note-${n}` };

/** What a set leaves: a partial one keeps the note the key had (none: null). */
export const after = (before: ModesModel[number], n: number, partial: boolean) => ({
  n,
  note: partial ? (before?.note ?? null) : `note-${n}`,
});

/** A row as the model holds it (undefined: none). */
export const modelled = (found: Record<string, unknown> | null | undefined) =>
  found ? { n: found.n as number, note: found.note as string | null } : undefined;

export class SetRow implements Cmd {
  constructor(
    readonly mode: Mode,
    readonly id: number,
    readonly partial: boolean,
  ) {}
  check = () => true;
  async run(model: ModesModel, real: ModesReal) {
    const n = nextN();
    const { strata, schema } = real[this.mode];
    await strata.set(schema, row(real.key(this.id), n, this.partial));
    model[this.id] = after(model[this.id], n, this.partial);
  }
  toString = () => `set(${this.mode}, ${this.id}${this.partial ? ', partial' : ''})`;
}

/** A command on the key of one id, through the instance of one mode. */
abstract class OnKey implements Cmd {
  constructor(
    readonly mode: Mode,
    readonly id: number,
  ) {}
  check = () => true;
  abstract run(model: ModesModel, real: ModesReal): Promise<void>;
}

export class Delete extends OnKey {
  async run(model: ModesModel, real: ModesReal) {
    const { strata, schema } = real[this.mode];
    await strata.delete(schema, real.key(this.id));
    model[this.id] = undefined;
  }
  override toString = () => `delete(${this.mode}, ${this.id})`;
}

export class Flush implements Cmd {
  check = () => true;
  async run(_model: ModesModel, real: ModesReal) {
    await real.behind.strata.flushDirty();
  }
  toString = () => 'flush';
}

/** Reads the key on one instance: it must answer the last acknowledged write. */
export class Read extends OnKey {
  async run(model: ModesModel, real: ModesReal) {
    const { strata, schema } = real[this.mode];
    const got = modelled((await strata.find(schema, real.key(this.id))) as Record<string, unknown> | null);
    expect(got, `${real.key(this.id)} read by the ${this.mode} instance`).toEqual(model[this.id]);
  }
  override toString = () => `read(${this.mode}, ${this.id})`;
}
