// Where an L2 value's payload begins: after the envelope header's eighth ';' (see
// packages/core/src/l2/envelope.ts). The payload is an object (`{`) or, since the JSON codec's
// `json2` format, an array (`[`): the benches that skip the header unread find it here, by position.
/** @example payloadOf('~1;r;0;7;0;0;0;k3x9a1;["p1",0]'); // '["p1",0]' */
export function payloadOf(value) {
  let at = -1;
  for (let i = 0; i < 8; i++) at = value.indexOf(';', at + 1);
  return value.slice(at + 1);
}
