export { describeL2Conformance, type L2Fixture } from './l2-conformance.js';
