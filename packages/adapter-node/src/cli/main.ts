#!/usr/bin/env node
// The `strata` command (package.json "bin"); built to dist/cli.js.
import { run } from './run.js';

process.exitCode = await run(process.argv.slice(2));
