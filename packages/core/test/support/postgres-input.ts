// What a real Postgres says of input strings, many per round trip: the oracle the input checks
// (schema/*-input.ts) are held to. A session function casts each string and returns the SQLSTATE.
import { serviceUrls } from '@strata/devstack/testing';
import pg from 'pg';

export interface InputOracle {
  /** Per input: null when Postgres takes it as `type` under any of `dateStyles`, else its SQLSTATE. */
  refusals(
    type: string,
    inputs: readonly string[],
    dateStyles?: readonly string[],
  ): Promise<(string | null)[]>;
  /** Per input: the text Postgres answers for it stored as `type` (its output function), null when refused. */
  outputs(type: string, inputs: readonly string[]): Promise<(string | null)[]>;
  end(): Promise<void>;
}

export async function inputOracle(): Promise<InputOracle> {
  const client = new pg.Client({ connectionString: serviceUrls().databaseUrl });
  await client.connect();
  // The session Strata's stored forms are written for (datetime-form.ts): not left to the server's defaults.
  await client.query(`set timezone = 'UTC'; set datestyle = 'ISO, MDY'; set intervalstyle = 'postgres'`);
  // pg_temp: the function lives and dies with this session, in no schema anyone else sees.
  await client.query(`create function pg_temp.refusal(t text, ty text) returns text language plpgsql as $$
    begin execute format('select %L::%s', t, ty); return null;
    exception when others then return sqlstate; end $$`);
  await client.query(`create function pg_temp.output(t text, ty text) returns text language plpgsql as $$
    declare out text;
    begin execute format('select format(''%%s'', %L::%s)', t, ty) into out; return out;
    exception when others then return null; end $$`);
  return {
    async refusals(type, inputs, dateStyles = ['ISO, MDY']) {
      const out: (string | null)[] = inputs.map(() => 'unread');
      for (const style of dateStyles) {
        await client.query(`set datestyle = '${style}'`);
        const { rows } = await client.query<{ code: string | null }>(
          'select pg_temp.refusal(t, $2) as code from unnest($1::text[]) with ordinality u(t, n) order by n',
          [inputs, type],
        );
        rows.forEach((row, i) => {
          if (out[i] !== null) out[i] = row.code;
        });
      }
      return out;
    },
    async outputs(type, inputs) {
      const { rows } = await client.query<{ out: string | null }>(
        'select pg_temp.output(t, $2) as out from unnest($1::text[]) with ordinality u(t, n) order by n',
        [inputs, type],
      );
      return rows.map((row) => row.out);
    },
    end: () => client.end(),
  };
}

/**
 * `count` strings near `seeds` (one to three characters inserted, dropped or replaced from `alphabet`),
 * drawn from a fixed seed so a failure is the same on every run.
 */
export function nearInputs(seeds: readonly string[], alphabet: readonly string[], count: number): string[] {
  let state = 12_345;
  const next = (n: number) => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) & 0x7fffffff;
    return state % n;
  };
  const out = new Set<string>();
  for (let i = 0; i < count; i++) {
    let s = seeds[next(seeds.length)]!;
    for (let edits = 1 + next(3); edits > 0; edits--) {
      const at = next(s.length + 1);
      const op = next(3);
      const c = alphabet[next(alphabet.length)]!;
      s = s.slice(0, at) + (op === 1 ? '' : c) + s.slice(op === 0 ? at : at + 1);
    }
    out.add(s);
  }
  return [...out];
}
