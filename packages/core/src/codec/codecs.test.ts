import { describeCodecConformance } from './codec-conformance.js';
import { jsonCodec } from './json-codec.js';
import { msgpackCodec } from './msgpack-codec.js';

describeCodecConformance('jsonCodec', jsonCodec);
describeCodecConformance('msgpackCodec', msgpackCodec);
