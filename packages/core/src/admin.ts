// `@strata/core/admin`: operations an operator runs, not a request: key rotation (`reencrypt`) and
// applying changes captured outside Strata (`applyChanges`). They are functions taking the instance
// rather than methods of `Strata`, because every method of the class is bundled into every Worker:
// here, only an app that imports them bundles them.

export { applyChanges } from './engine/apply-changes.js';
export { type ReencryptOptions, type ReencryptResult, reencrypt } from './engine/reencrypt.js';
export { type WithdrawMovedResult, withdrawMoved } from './engine/withdraw-moved.js';
