// docs/cli.md's strata.config.ts imports its schemas from './src/schema'.
export { playerSchema, players, scoreSchema } from '../schema.js';
