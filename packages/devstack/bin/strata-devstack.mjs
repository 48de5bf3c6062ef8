#!/usr/bin/env node
// The `strata-devstack` bin. It is committed, not built: npm links bins at install time, before any
// build, and skips a bin whose file is missing, so pointing "bin" at dist/cli.js left a fresh
// checkout without `strata-devstack`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli.js', import.meta.url);
if (existsSync(fileURLToPath(cli))) {
  await import(cli.href);
} else {
  process.stderr.write(
    `strata-devstack: not built yet (${fileURLToPath(cli)} is missing): run npm run build first\n`,
  );
  process.exitCode = 1;
}
