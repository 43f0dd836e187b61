/**
 * The floor the service's audio is measured against: a bare WHIP echo on the same binding
 * (src/webrtc/peer.ts, @roamhq/wrtc) that hands each decoded 10 ms audio block straight back to
 * libwebrtc, and each video frame too: decode, encode, nothing else. No engine, no worker, no metrics.
 *
 *   PORT=8091 node --import tsx bench/audio/echo-server.ts
 *
 * Routes: POST /whip (SDP offer → 201 + answer), DELETE /whip/{id}, GET /readyz. Run by bench/audio.ts.
 */
import { createServer } from 'node:http';
import { AudioOutput, Peer, VideoOutput } from '../../src/webrtc/peer.ts';
import { readOffer } from '../webrtc/offer-body.ts';

interface EchoSession {
  readonly peer: Peer;
  readonly video: VideoOutput;
  readonly audio: AudioOutput;
}

const sessions = new Map<string, EchoSession>();
let nextId = 1;

async function publish(offer: string): Promise<{ id: string; answer: string }> {
  const peer = new Peer({ iceServers: [], gatherTimeoutMs: 2500, onListenerError: (err) => process.emitWarning(String(err)) });
  const session: EchoSession = { peer, video: new VideoOutput(), audio: new AudioOutput() };
  peer.on('frame', (frame) => session.video.send(frame));
  peer.on('audio', (frame) => session.audio.send(frame));
  const { sdp } = await peer.answer(offer, session.video, { audio: session.audio, receiveAudio: true });
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
  session.video.close();
  session.audio.close();
  return true;
}

const server = createServer((req, res) => {
  void (async () => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/readyz') return res.writeHead(200).end('ok');
    if (req.method === 'POST' && url.pathname === '/whip') {
      const { id, answer } = await publish(await readOffer(req));
      return res.writeHead(201, { 'content-type': 'application/sdp', location: `/whip/${id}` }).end(answer);
    }
    const match = /^\/whip\/(\d+)$/.exec(url.pathname);
    if (req.method === 'DELETE' && match) return res.writeHead(end(match[1]!) ? 200 : 404).end();
    res.writeHead(404).end();
  })().catch((err: unknown) => {
    if (!res.headersSent) res.writeHead(400).end(String(err));
  });
});
server.listen(Number(process.env.PORT ?? 8091), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => {
  for (const id of [...sessions.keys()]) end(id);
  server.close(() => process.exit(0));
});
