/**
 * Reads a Server-Sent Events body and hands over the value of each `data:` line as it arrives
 * (Upstash puts one whole message on one line: `message,<channel>,<payload>`). Comments
 * (`: keepalive`) and other fields are skipped; CRLF and CR line ends are accepted. Resolves when the
 * stream ends, rejects when it fails or a line grows past `maxLineChars` (a stream that never sends
 * a line end must not take all memory). A last line without its line end is discarded, as SSE says.
 *
 * @example
 * const res = await fetch(`${url}/subscribe/news`, { method: 'POST', headers, signal });
 * await readSseData(res.body!, (data) => console.log(data), 1_000_000); // 'subscribe,news,1', …
 */
export async function readSseData(
  body: ReadableStream<Uint8Array>,
  onData: (data: string) => void,
  maxLineChars: number,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  // Where to look for the next line end: a long line arriving in many chunks is scanned once.
  let scanFrom = 0;
  let pendingCr = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      let text = decoder.decode(value, { stream: true });
      // A CRLF split across two chunks: the LF belongs to the line the CR already ended.
      if (pendingCr && text.startsWith('\n')) text = text.slice(1);
      pendingCr = false;
      buffer += text;
      let start = 0;
      for (let end = findLineEnd(buffer, scanFrom); end !== -1; end = findLineEnd(buffer, start)) {
        dataLine(buffer.slice(start, end), onData);
        if (buffer[end] === '\r') {
          if (end + 1 === buffer.length) pendingCr = true;
          else if (buffer[end + 1] === '\n') end += 1;
        }
        start = end + 1;
      }
      buffer = buffer.slice(start);
      scanFrom = buffer.length;
      if (buffer.length > maxLineChars) {
        throw new RangeError(`SSE line longer than ${maxLineChars} characters`);
      }
    }
  } finally {
    // Releases the connection whether the stream ended, failed or the handler threw.
    await reader.cancel().catch(() => undefined);
  }
}

const LINE_END = /[\r\n]/g;

function findLineEnd(buffer: string, from: number): number {
  LINE_END.lastIndex = from;
  return LINE_END.exec(buffer)?.index ?? -1;
}

function dataLine(line: string, onData: (data: string) => void): void {
  if (!line.startsWith('data:')) return;
  // The field value starts after the colon and one optional space.
  onData(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));
}
