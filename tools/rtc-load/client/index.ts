/**
 * The client module: how anything outside the server (rtc-load, the tests, the benchmarks) talks
 * to it over HTTP and WHIP/WHEP. It imports nothing from src/ but the typed libwebrtc binding
 * (src/webrtc/binding.ts, a leaf): it sees the service as a client does.
 */
export { chromaSize, i420Bytes, i420Frame, type I420Frame } from './i420.ts';
export { ClientPeer, type ClientChannel, type ClientPeerEvents, type IceServerConfig, type PeerState } from './peer.ts';
export { CONTROL_CHANNEL, WhepViewer, WhipHttpError, WhipPublisher, type ClientOptions } from './whip.ts';
export { processUrl, type ProcessQuery } from './http.ts';
