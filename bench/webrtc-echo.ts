/**
 * The floor the service is measured against: a bare WHIP echo on the same binding (src/webrtc/peer.ts,
 * @roamhq/wrtc). Each decoded frame has its chroma set to 128 (grey, so a viewer can tell it went
 * through here) and is handed straight back to libwebrtc: decode, touch, encode, nothing else. No
 * engine, no worker, no metrics, no admission.
 *
 *   PORT=8090 node --import tsx bench/webrtc-echo.ts
 *
 * Routes: POST /whip (SDP offer → 201 + answer), GET /whip/{id} (frame counters, in the shape the
 * benchmark reads from the service), DELETE /whip/{id}, GET /readyz. Run by bench/webrtc.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Peer, VideoOutput } from '../src/webrtc/peer.ts';
import { readOffer } from './webrtc/offer-body.ts';

interface EchoSession {
  readonly peer: Peer;
  readonly output: VideoOutput;
  framesReceived: number;
  framesProcessed: number;
}

const sessions = new Map<string, EchoSession>();
let nextId = 1;

async function publish(offer: string): Promise<{ id: string; answer: string }> {
  const peer = new Peer({ iceServers: [], gatherTimeoutMs: 2500, onListenerError: (err) => process.emitWarning(String(err)) });
  const output = new VideoOutput();
  const session: EchoSession = { peer, output, framesReceived: 0, framesProcessed: 0 };
  peer.on('frame', (frame) => {
    session.framesReceived++;
    // Touch the chroma (what the cheapest effect would do), then straight back to the encoder.
    const lumaBytes = frame.width * frame.height;
    frame.data.fill(128, lumaBytes);
    output.send(frame);
    session.framesProcessed++;
  });
  const { sdp } = await peer.answer(offer, output);
  const id = String(nextId++);
  sessions.set(id, session);
  return { id, answer: sdp };
}

function end(id: string): boolean {
  const session = sessions.get(id);
  if (!session) return false;
  sessions.delete(id);
  session.peer.close();
  session.peer.removeAllListeners();
  session.output.close();
  return true;
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://echo');
  const id = /^\/whip\/(\d+)$/.exec(url.pathname)?.[1];
  if (req.method === 'GET' && url.pathname === '/readyz') {
    res.writeHead(200).end('ok');
  } else if (req.method === 'POST' && url.pathname === '/whip') {
    const { id: newId, answer } = await publish(await readOffer(req));
    res.writeHead(201, { 'content-type': 'application/sdp', location: `/whip/${newId}` }).end(answer);
  } else if (req.method === 'GET' && id !== undefined && sessions.has(id)) {
    const s = sessions.get(id)!;
    const { framesEncoded } = await s.peer.stats();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, framesReceived: s.framesReceived, framesProcessed: s.framesProcessed, framesDropped: 0, framesEncoded }));
  } else if (req.method === 'DELETE' && id !== undefined) {
    res.writeHead(end(id) ? 200 : 404).end();
  } else if (req.method === 'GET' && url.pathname === '/sessions') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ active: sessions.size }));
  } else {
    res.writeHead(404).end();
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => {
    if (!res.headersSent) res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'bad_request', detail: err instanceof Error ? err.message : String(err) }));
  });
});
server.listen(Number(process.env.PORT ?? 8090), process.env.HOST ?? '127.0.0.1');

function shutdown(): void {
  for (const id of [...sessions.keys()]) end(id);
  server.close();
  // libwebrtc's threads may keep the loop alive a moment; peer.ts exits once it is empty.
  setTimeout(() => process.exit(0), 2000).unref();
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
