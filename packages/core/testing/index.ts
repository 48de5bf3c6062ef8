export {
  INJECTION_CORPUS,
  injectionCorpus,
  WHERE_TEXT_INJECTION_CORPUS,
  whereTextInjectionCorpus,
} from '../src/query/injection-corpus.js';
export { type BusFixture, describeBusConformance } from './bus-conformance.js';
export { type BusProbe, busProbe, receivedIds, sampleInvalidation } from './bus-probe.js';
export { type DrivenWait, drivenScheduler } from './driven-scheduler.js';
export { describeL2Conformance, type L2Fixture, type L2RawClient } from './l2-conformance.js';
export { countingL2, strataRejection } from './l2-helpers.js';
export { describeL3Conformance, type L3Fixture, type L3FixtureContext } from './l3-conformance.js';
export { percentile } from './measure.js';
export { describeQueueConformance, type QueueFixture } from './queue-conformance.js';
export { type SteadyWriter, steadyWriter, takesAfterEachWrite } from './steady-writer.js';
