/**
 * Roots this module has already frozen all the way down, so freezing them again is O(1). Sound
 * for objects and arrays (nothing can be attached once frozen); see the Map/Set caveat below.
 */
const deeplyFrozen = new WeakSet<object>();

/**
 * Freezes `value` and everything reachable from it, in place, and returns it — one way to keep
 * callers from mutating a value that L1 shares between reads (the other is copying).
 *
 * - Plain objects, arrays, class instances: `Object.freeze`, then their own property values
 *   (string and symbol keys; accessors are not called). Cycles are fine.
 * - Map / Set: keys and values are deep-frozen, but the collection itself stays mutable —
 *   `map.set()` / `set.add()` write internal slots that `Object.freeze` cannot lock. Something
 *   added afterwards is not frozen by a second `deepFreeze` of the same root (it is remembered).
 * - Date: frozen against new properties, but `setTime()` and the other setters still work — an
 *   internal slot again. Treat Dates from L1 as read-only by convention.
 * - Uint8Array and other typed arrays, DataView, ArrayBuffer: left as they are. Freezing a typed
 *   array with elements throws a TypeError, and its bytes stay writable whatever we do.
 * - Primitives and functions: returned unchanged.
 *
 * @example
 * const user = deepFreeze({ id: 1, tags: ['a'] });
 * user.tags.push('b'); // TypeError in strict mode
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) freezeObject(value, new WeakSet());
  return value;
}

function freezeObject(root: object, seen: WeakSet<object>): void {
  // An explicit stack rather than recursion: a long linked structure must not blow the call stack.
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item !== 'object' || item === null) continue;
    if (seen.has(item) || deeplyFrozen.has(item)) continue;
    seen.add(item);
    if (ArrayBuffer.isView(item) || item instanceof ArrayBuffer) continue;
    if (item instanceof Map) {
      for (const [k, v] of item) stack.push(k, v);
    } else if (item instanceof Set) {
      for (const v of item) stack.push(v);
    }
    Object.freeze(item);
    for (const key of Reflect.ownKeys(item)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(item, key);
      if (descriptor !== undefined && 'value' in descriptor) stack.push(descriptor.value);
    }
  }
  deeplyFrozen.add(root);
}
