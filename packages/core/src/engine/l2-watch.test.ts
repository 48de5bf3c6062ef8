import { describe, expect, it } from 'vitest';
import { L2Watch } from './l2-watch.js';

function watched() {
  const resets: string[] = [];
  const watch = new L2Watch((why) => resets.push(why));
  watch.observe('bA', 10, 0);
  return { watch, resets };
}

describe('L2Watch: ticks other instances told', () => {
  it('raise the floor of INCRing requests in the same Redis life, not of reads', () => {
    const { watch, resets } = watched();
    expect(watch.told()).toBe('bA:10');
    watch.hear('bA:25');
    watch.hear('bA:20'); // older: the highest stands
    expect(watch.floor()).toBe(25);
    expect(watch.readFloor()).toBe(10); // a replica may lag behind another instance's write
    watch.observe(undefined, 24, watch.floor()); // a write INCRed to 24: Redis went back past 25
    expect(resets).toEqual(['Redis went back in time (tick 24, 25 seen before)']);
  });

  it("ignore another Redis life's ticks, unknown markers and malformed ones", () => {
    const { watch } = watched();
    for (const life of ['bB:99', ':99', '99', 'bA:x', 'bA:1e400', '']) watch.hear(life);
    expect(watch.floor()).toBe(10);
    expect(new L2Watch(() => {}).told()).toBe('');
  });

  it('after a reset, forget the heard floor and ignore late messages of the life gone back', () => {
    const { watch, resets } = watched();
    watch.hear('bA:50');
    watch.observe(undefined, 30, watch.floor());
    expect(resets).toHaveLength(1);
    expect(watch.floor()).toBe(30);
    expect(watch.told()).toBe(''); // its marker names the life gone back until the new one
    watch.hear('bA:50'); // a message sent before the restore, delivered after
    expect(watch.floor()).toBe(30);
    watch.observe(undefined, 31, watch.floor());
    expect(resets).toHaveLength(1);
    watch.adopt('bC');
    watch.hear('bC:40');
    expect(watch.floor()).toBe(40);
  });

  it('a new boot marker: the new life is heard, the old one is not', () => {
    const { watch, resets } = watched();
    watch.observe('bN', 1, watch.floor());
    expect(resets).toHaveLength(1);
    watch.hear('bA:70');
    watch.hear('bN:5');
    expect(watch.floor()).toBe(5);
  });

  it('a reset tells, from its own callback (which may publish), the new life and tick, never the old tick', () => {
    const told: string[] = [];
    const watch: L2Watch = new L2Watch(() => told.push(watch.told()));
    watch.observe('bA', 90, 0);
    watch.observe('bN', 2, watch.floor()); // Redis lost its data: a new marker, ticks from 1 again
    watch.observe(undefined, 1, watch.floor()); // and then went back (a restore): its life is suspect
    expect(told).toEqual(['bN:2', '']);
  });

  it('a marker a generation read renewed (another server id): a reset, even for an instance that knew none', () => {
    const resets: string[] = [];
    const fresh = new L2Watch((why) => resets.push(why));
    fresh.observe('bN@1', 3, fresh.floor(), { renewed: true });
    expect(resets).toHaveLength(1);
    expect(resets[0]).toMatch(/another server/);
    expect(fresh.told()).toBe('bN@1:3'); // the new life, its marker already set
    fresh.observe('bN@1', 4, fresh.floor());
    expect(resets).toHaveLength(1);
  });
});

describe('L2Watch: a write script that found another Redis life (LIFE)', () => {
  it('resets once per life, keeping the old marker to send until the move adopts the new one', () => {
    const resets: [string, string][] = [];
    const watch = new L2Watch((why, replace) => resets.push([why, replace]));
    expect(watch.life()).toBeUndefined(); // no marker known: writes carry no check
    watch.observe('bA', 10, 0);
    expect(watch.life()).toBe('bA');
    watch.lifeChanged('', 3); // the marker is gone: Redis lost its data, the tick went on to 3
    expect(resets).toEqual([
      ['Redis restarted without its data (a write found its boot marker gone or new)', ''],
    ]);
    expect(watch.life()).toBe('bA'); // still refused until the reset's move adopts a marker
    expect(watch.told()).toBe('');
    watch.lifeChanged('bB', 4); // another write of the same life gone: no second reset
    expect(resets).toHaveLength(1);
    watch.adopt('bB');
    watch.lifeChanged('bB', 5); // a late reply of a write sent before the adoption: nothing new
    expect(resets).toHaveLength(1);
    watch.observe(undefined, 6, watch.floor()); // the tick baseline is the new life's
    expect(resets).toHaveLength(1);
    watch.lifeChanged('bC', 7); // that life gone too
    expect(resets).toHaveLength(2);
  });
});
