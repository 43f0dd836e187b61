import type { IncomingMessage } from 'node:http';

/** The largest SDP offer the benchmarks' bare echo servers read. */
const MAX_SDP_BYTES = 64 * 1024;

/** Reads an SDP offer's body, refusing one over MAX_SDP_BYTES (the echo servers of bench/webrtc-echo.ts and bench/audio/). */
export async function readOffer(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req) {
    bytes += (chunk as Buffer).length;
    if (bytes > MAX_SDP_BYTES) throw new Error('offer too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
