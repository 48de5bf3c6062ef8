// `@strata/core/msgpack`: its own entry so that apps on the default JSON codec never bundle MessagePack.

export { msgpackCodec } from './codec/msgpack-codec.js';
