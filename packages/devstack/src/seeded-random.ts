/**
 * A seeded PRNG (mulberry32): uniform in [0, 1), the same sequence for the same seed on every
 * machine, so a failing random run (a shuffle, a trace, a proxy's delays) is replayed from its
 * seed. Not for anything secret. No dependencies: tests, workerd and the bench's child processes
 * import it alike.
 * @example const random = seededRandom(7); const delay = random() * 25;
 */
export function seededRandom(seed = 0x5eed): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
