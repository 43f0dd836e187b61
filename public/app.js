// The demo page: publishes the camera over WHIP and shows the processed video that comes back on
// the same peer connection. Effect changes go over the "control" data channel (PATCH as fallback).

const $ = (id) => document.getElementById(id);
const ui = {
  form: $('controls'),
  effect: $('effect'),
  params: $('params'),
  token: $('token'),
  start: $('start'),
  stop: $('stop'),
  status: $('status'),
  local: $('local'),
  processed: $('processed'),
  sent: $('stat-sent'),
  received: $('stat-received'),
  rtt: $('stat-rtt'),
  latency: $('stat-latency'),
  dropped: $('stat-dropped'),
  session: $('stat-session'),
};

const GATHER_TIMEOUT_MS = 2000;
const STATS_INTERVAL_MS = 1000;

let effects = [];
/** The running call: { pc, stream, channel, resourceUrl, timer, last } */
let call;

function setStatus(text, isError = false) {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
}

function authHeaders() {
  const token = ui.token.value.trim();
  return token ? { authorization: `Bearer ${token}` } : {};
}

// ---- effects and their parameters -----------------------------------------------------------------

async function loadEffects() {
  const res = await fetch('/effects');
  if (!res.ok) throw new Error(`GET /effects answered ${res.status}`);
  effects = (await res.json()).effects;
  for (const effect of effects) {
    const option = document.createElement('option');
    option.value = effect.name;
    option.textContent = effect.name;
    option.title = effect.description;
    ui.effect.append(option);
  }
  // What a video call is known for: the person sharp, the room behind them blurred.
  ui.effect.value = effects.some((e) => e.name === 'background-blur') ? 'background-blur' : effects[0].name;
  renderParams();
  ui.effect.disabled = false;
  ui.start.disabled = false;
  setStatus('Pick an effect and press Start.');
}

function renderParams() {
  ui.params.replaceChildren();
  const effect = effects.find((e) => e.name === ui.effect.value);
  for (const [name, spec] of Object.entries(effect?.params ?? {})) {
    const label = document.createElement('label');
    const input = document.createElement('input');
    const output = document.createElement('output');
    input.name = name;
    input.title = spec.description;
    if (name === 'color') {
      // An 0xRRGGBB parameter: the browser's colour picker, sent as a number.
      input.type = 'color';
      input.value = `#${spec.default.toString(16).padStart(6, '0')}`;
    } else {
      input.type = 'range';
      input.min = String(spec.min);
      input.max = String(Math.min(spec.max, spec.integer || spec.max <= 64 ? 64 : 16));
      input.step = spec.integer ? '1' : '0.5';
      input.value = String(spec.default);
      output.value = input.value;
      input.addEventListener('input', () => {
        output.value = input.value;
      });
    }
    input.addEventListener('change', () => void changeEffect());
    label.append(`${name} `, output, input);
    ui.params.append(label);
  }
}

function currentJob() {
  const params = {};
  for (const input of ui.params.querySelectorAll('input')) {
    params[input.name] = input.type === 'color' ? Number.parseInt(input.value.slice(1), 16) : Number(input.value);
  }
  return { effect: ui.effect.value, params };
}

async function changeEffect() {
  if (!call) return;
  const job = currentJob();
  if (call.channel?.readyState === 'open') {
    call.channel.send(JSON.stringify(job));
    return;
  }
  const res = await fetch(call.resourceUrl, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', ...authHeaders() },
    body: JSON.stringify(job),
  });
  if (!res.ok) setStatus(`Effect change refused: ${(await res.json()).detail}`, true);
}

// ---- WHIP -----------------------------------------------------------------------------------------

/** ICE servers from the WHIP endpoint's Link headers (RFC 9725 §4.6), if it lists any. */
async function iceServers() {
  try {
    const res = await fetch('/whip', { method: 'OPTIONS', headers: authHeaders() });
    const header = res.headers.get('link');
    if (!header) return [];
    return header
      .split(/,\s*(?=<)/)
      .map((link) => {
        const url = /^<([^>]+)>/.exec(link)?.[1];
        const attr = (key) => new RegExp(`;\\s*${key}="((?:[^"\\\\]|\\\\.)*)"`).exec(link)?.[1]?.replace(/\\(.)/g, '$1');
        if (!url || !/rel="ice-server"/.test(link)) return undefined;
        const server = { urls: url };
        if (attr('username') !== undefined) server.username = attr('username');
        if (attr('credential') !== undefined) server.credential = attr('credential');
        return server;
      })
      .filter(Boolean);
  } catch {
    return [];
  }
}

function gatheringComplete(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

async function start(event) {
  event.preventDefault();
  if (call) return;
  ui.start.disabled = true;
  setStatus('Asking for the camera…');
  let stream;
  let pc;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
      audio: false,
    });
    ui.local.srcObject = stream;
    pc = new RTCPeerConnection({ iceServers: await iceServers() });
    const [track] = stream.getVideoTracks();
    pc.addTransceiver(track, { direction: 'sendrecv', streams: [stream] });
    const channel = pc.createDataChannel('control');
    channel.addEventListener('message', (e) => {
      const reply = JSON.parse(e.data);
      // Frames over the server's MAX_FRAME_PIXELS are dropped and said so once (payload_too_large).
      if (reply.type === 'error') setStatus(reply.error === 'payload_too_large' ? reply.detail : `Effect change refused: ${reply.detail}`, true);
      else setStatus(`Streaming with ${reply.effect}.`);
    });
    pc.addEventListener('track', (e) => {
      ui.processed.srcObject = e.streams[0] ?? new MediaStream([e.track]);
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed') void stop(undefined, 'The connection failed.');
    });

    setStatus('Connecting…');
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    const job = currentJob();
    const query = new URLSearchParams({ effect: job.effect, ...Object.fromEntries(Object.entries(job.params).map(([k, v]) => [k, String(v)])) });
    const res = await fetch(`/whip?${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp', ...authHeaders() },
      body: pc.localDescription.sdp,
    });
    if (res.status !== 201) {
      const detail = (await res.json().catch(() => ({}))).detail ?? res.statusText;
      const retry = res.headers.get('retry-after');
      throw new Error(`${res.status}: ${detail}${retry ? ` (retry in ${retry} s)` : ''}`);
    }
    const resourceUrl = new URL(res.headers.get('location'), location.href).href;
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    call = { pc, stream, channel, resourceUrl, last: undefined, timer: setInterval(() => void updateStats(), STATS_INTERVAL_MS) };
    document.body.dataset.session = resourceUrl;
    ui.session.textContent = new URL(resourceUrl).pathname;
    ui.stop.disabled = false;
    setStatus(`Streaming with ${job.effect}.`);
  } catch (err) {
    pc?.close();
    stream?.getTracks().forEach((t) => t.stop());
    ui.local.srcObject = null;
    ui.start.disabled = false;
    setStatus(`Could not start: ${err.message}`, true);
  }
}

async function stop(_event, reason = 'Stopped.') {
  if (!call) return;
  const { pc, stream, resourceUrl, timer } = call;
  call = undefined;
  clearInterval(timer);
  try {
    await fetch(resourceUrl, { method: 'DELETE', headers: authHeaders() });
  } catch {
    // The server ends sessions that stop sending frames on its own.
  }
  pc.close();
  stream.getTracks().forEach((t) => t.stop());
  ui.local.srcObject = null;
  ui.processed.srcObject = null;
  delete document.body.dataset.session;
  ui.stop.disabled = true;
  ui.start.disabled = false;
  setStatus(reason);
}

// ---- live stats -----------------------------------------------------------------------------------

async function updateStats() {
  if (!call) return;
  const { pc, resourceUrl } = call;
  const now = performance.now();
  let encoded = 0;
  let decoded = 0;
  let rttSeconds;
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') encoded += r.framesEncoded ?? 0;
    if (r.type === 'inbound-rtp' && r.kind === 'video') decoded += r.framesDecoded ?? 0;
    if (r.type === 'candidate-pair' && r.nominated && r.currentRoundTripTime !== undefined) rttSeconds = r.currentRoundTripTime;
    if (r.type === 'remote-inbound-rtp' && rttSeconds === undefined && r.roundTripTime !== undefined) rttSeconds = r.roundTripTime;
  });
  const last = call.last;
  if (last) {
    const seconds = (now - last.at) / 1000;
    ui.sent.textContent = `${((encoded - last.encoded) / seconds).toFixed(1)} fps`;
    ui.received.textContent = `${((decoded - last.decoded) / seconds).toFixed(1)} fps`;
  }
  call.last = { at: now, encoded, decoded };
  ui.rtt.textContent = rttSeconds === undefined ? '–' : `${(rttSeconds * 1000).toFixed(0)} ms`;

  const res = await fetch(resourceUrl, { headers: authHeaders() }).catch(() => undefined);
  if (!res?.ok) return;
  const s = await res.json();
  const ms = (v) => (typeof v === 'number' ? `${v.toFixed(1)} ms` : '–');
  ui.latency.textContent = `${ms(s.frameLatencyP95Ms)} / ${ms(s.frameLatencyLastMs)}`;
  ui.dropped.textContent = `${s.framesDropped} of ${s.framesReceived}`;
}

ui.effect.addEventListener('change', () => {
  renderParams();
  void changeEffect();
});
ui.form.addEventListener('submit', (e) => void start(e));
ui.stop.addEventListener('click', (e) => void stop(e));
// Leaving the page ends the session at once instead of after SESSION_IDLE_SECONDS.
window.addEventListener('pagehide', () => {
  if (call) void fetch(call.resourceUrl, { method: 'DELETE', headers: authHeaders(), keepalive: true });
});

loadEffects().catch((err) => setStatus(`Could not load effects: ${err.message}`, true));
