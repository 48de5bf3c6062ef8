#!/usr/bin/env node
// The `strata` command, built to dist/cli.js, which the committed bin/strata.mjs imports.
import { run } from './run.js';

process.exitCode = await run(process.argv.slice(2));
