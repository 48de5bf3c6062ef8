import { afterAll, beforeAll, expect, it } from 'vitest';
import { changeRelay, defineSchema, type Logger, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

/*
 * A relay over change capture nobody installed reads an empty log forever: the instance says so once,
 * with its first poll (a warning and stats().capture.notInstalled), and says nothing once it is there.
 * Not installed is a state, not an error at every poll: the documented start (createStrata, whose
 * LISTEN session reads at once, then migrate({ capture: true })) must not leave errors behind.
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

it('warns once, with the schemas, when the relay runs over capture that is not installed; clears once installed', async () => {
  const warnings: string[][] = [];
  const strata = relaying(warnings);
  await strata.migrate();
  expect(await strata.relayChanges()).toEqual({ status: 'not-installed' }); // the log's tables do not exist yet
  await strata.settled();
  const identity = players().identity;
  expect(warnings).toEqual([[identity]]);
  expect(strata.stats().capture.notInstalled).toEqual([identity]);
  expect(await strata.relayChanges()).toEqual({ status: 'not-installed' });
  await strata.settled();
  expect(warnings).toHaveLength(1); // once per instance
  expect(strata.stats().errors).toBe(0);
  expect(strata.stats().capture.relay?.errors).toBe(0);

  // Installed by another instance (the CLI, say): this one's next poll sees it.
  const other = relaying(warnings);
  await other.capture.install();
  expect(other.stats().capture.notInstalled).toEqual([]);
  expect(await strata.relayChanges()).toMatchObject({ status: 'applied' });
  await strata.settled();
  expect(strata.stats().capture.notInstalled).toEqual([]);
  expect(warnings).toHaveLength(1);

  // Removed and installed again through this instance: its stats follow at once.
  await strata.capture.remove();
  expect(strata.stats().capture.notInstalled).toEqual([identity]);
  expect(warnings).toHaveLength(2);
  await strata.capture.install();
  expect(strata.stats().capture.notInstalled).toEqual([]);
  await strata.capture.remove();
  await Promise.all([strata.close(), other.close()]);
});
