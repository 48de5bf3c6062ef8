import { LIFE } from './life-script.js';
import { HEADER, SAME_GENERATION, WROTE } from './script-parts.js';
import { SHAPE_TAIL } from './shape-scripts.js';

/**
 * The head every row-writing script (PUT, ORDERED_PUT, DROP, MARK) starts with: the life check
 * (`LIFE`), the header reader, the shape registry tail, the tick INCR'd and replied, the generation
 * check (`SAME_GENERATION`) and the slot ticks of the last writes (`WROTE`), in that order (see
 * script-parts.ts for why each script takes them).
 */
export const ROW_WRITE_HEAD = `${LIFE}
${HEADER}
${SHAPE_TAIL}
local tick = redis.call('INCR', KEYS[1])
${SAME_GENERATION}
${WROTE}`;
