import { describe, expect, it } from 'vitest';
import { readSseData } from './sse-reader.js';

/** A body that delivers `chunks` (text or bytes) one read at a time, then ends or fails. */
function body(
  chunks: (string | Uint8Array)[],
  fail?: Error,
): ReadableStream<Uint8Array> & { cancelled: boolean } {
  const encoder = new TextEncoder();
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[i++];
      if (chunk !== undefined) controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk);
      else if (fail) controller.error(fail);
      else controller.close();
    },
    cancel() {
      result.cancelled = true;
    },
  });
  const result = Object.assign(stream, { cancelled: false });
  return result;
}

async function lines(chunks: (string | Uint8Array)[], max = 1_000): Promise<string[]> {
  const out: string[] = [];
  await readSseData(body(chunks), (data) => out.push(data), max);
  return out;
}

describe('readSseData', () => {
  it('hands over data lines, skipping comments, blank lines and other fields', async () => {
    expect(
      await lines([
        'data: subscribe,ch,1\n\n: keepalive\n\nevent: x\nid: 7\ndata: message,ch,{"a":1,"b":2}\n\n',
      ]),
    ).toEqual(['subscribe,ch,1', 'message,ch,{"a":1,"b":2}']);
  });

  it('joins lines split across chunks, and characters split across bytes', async () => {
    const bytes = new TextEncoder().encode('data: é🎉\n');
    expect(await lines(['da', 'ta: mess', 'age,c', 'h,x\n', bytes.slice(0, 7), bytes.slice(7)])).toEqual([
      'message,ch,x',
      'é🎉',
    ]);
  });

  it('accepts CRLF, CR, a CRLF split across chunks, and data: without its space', async () => {
    expect(await lines(['data: a\r\n\r\ndata:b\rdata: c\r', '\ndata: d\n'])).toEqual(['a', 'b', 'c', 'd']);
  });

  it('keeps a data value whole: colons, commas and a second space', async () => {
    expect(await lines(['data:  two spaces, a: colon\n'])).toEqual([' two spaces, a: colon']);
  });

  it('discards a last line without its line end', async () => {
    expect(await lines(['data: whole\ndata: cut'])).toEqual(['whole']);
  });

  it('rejects a line longer than the limit, and cancels the body', async () => {
    const stream = body(['data: ', 'x'.repeat(50), 'x'.repeat(60)]);
    await expect(readSseData(stream, () => {}, 100)).rejects.toThrow(RangeError);
    expect(stream.cancelled).toBe(true);
  });

  it('rejects when the body fails, after what came before', async () => {
    const out: string[] = [];
    const failing = readSseData(body(['data: one\n'], new Error('reset')), (d) => out.push(d), 100);
    await expect(failing).rejects.toThrow('reset');
    expect(out).toEqual(['one']);
  });

  it('cancels the body when the handler throws', async () => {
    const stream = body(['data: one\n', 'data: two\n']);
    await expect(
      readSseData(
        stream,
        () => {
          throw new Error('handler');
        },
        100,
      ),
    ).rejects.toThrow('handler');
    expect(stream.cancelled).toBe(true);
  });
});
