import { afterAll, beforeAll, expect, it } from 'vitest';
import { changeRelay, defineSchema, type Logger, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

/*
 * A relay over change capture nobody installed reads an empty log forever: the instance says so once,
 * with its first poll (a warning and stats().capture.notInstalled), and says nothing once it is there.
 */
let stack: EngineStack;
beforeAll(async () => {
  stack = await engineStack('capture_not_installed');
});
afterAll(async () => {
  await stack?.cleanup();
});

const players = () => defineSchema({ table: stack.tables.players });

function relaying(warnings: string[][]): Strata {
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (message, fields) => {
      if (message.startsWith('change capture is not installed')) warnings.push(fields?.schemas as string[]);
    },
    error: () => {},
  };
  return new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [players()],
    logger,
    capture: { relay: changeRelay({ interval: '1h' }) },
  });
}

it('warns once, with the schemas, when the relay runs over capture that is not installed; silent once installed', async () => {
  const warnings: string[][] = [];
  const strata = relaying(warnings);
  await strata.migrate();
  await strata.relayChanges().catch(() => undefined); // the log's tables do not exist yet either
  await strata.settled();
  const identity = players().identity;
  expect(warnings).toEqual([[identity]]);
  expect(strata.stats().capture.notInstalled).toEqual([identity]);
  await strata.relayChanges().catch(() => undefined);
  await strata.settled();
  expect(warnings).toHaveLength(1); // once per instance

  await strata.capture.install();
  const fresh = relaying(warnings);
  expect(await fresh.relayChanges()).toMatchObject({ status: 'applied' });
  await fresh.settled();
  expect(warnings).toHaveLength(1);
  expect(fresh.stats().capture.notInstalled).toEqual([]);
  await strata.capture.remove();
  await Promise.all([strata.close(), fresh.close()]);
});
