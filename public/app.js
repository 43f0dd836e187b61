// The demo page: publishes the camera over WHIP and shows the processed video that comes back on
// the same peer connection. Effect changes go over the "control" data channel (PATCH as fallback).
// When the pod is shutting down (a rollout, a scale-down) it says so on that channel, and the page
// publishes the same camera again: the balancer sends the new call to a pod that stays, and the
// processed video switches over once it flows; then the old session is ended.

const $ = (id) => document.getElementById(id);
const ui = {
  form: $('controls'),
  effect: $('effect'),
  params: $('params'),
  audio: $('audio'),
  captions: $('captions'),
  translate: $('translate'),
  subtitles: $('subtitles'),
  captionText: $('caption-text'),
  token: $('token'),
  start: $('start'),
  stop: $('stop'),
  status: $('status'),
  local: $('local'),
  processed: $('processed'),
  processedAudio: $('processed-audio'),
  sent: $('stat-sent'),
  received: $('stat-received'),
  rtt: $('stat-rtt'),
  latency: $('stat-latency'),
  dropped: $('stat-dropped'),
  session: $('stat-session'),
};

// Paths are relative to the page, so that it also works under a prefix: through `kubectl proxy`
// (…/api/v1/namespaces/rtc/services/gpu-media:http/proxy/), which sends each request to a pod of
// the Service, as the resilience part of the demo needs.
const base = new URL('.', location.href);
/** A URL the service answered (a WHIP Location, `/whip/…`) as this page reaches it, prefix included. */
function atBase(path) {
  if (!path.startsWith('/') || path.startsWith(base.pathname)) return new URL(path, base).href;
  return new URL(path.slice(1), base).href;
}

const GATHER_TIMEOUT_MS = 2000;
const STATS_INTERVAL_MS = 1000;
/** After a refused re-publish (it reached the draining pod, or a full one), the next try waits this long. */
const MOVE_RETRY_MS = 250;

let effects = [];
/** The running call: { pc, stream, channel, resourceUrl, timer, last, moving } */
let call;
/** Moves to another pod so far, and the last one's gap in the processed video (ms), for the page and its tests. */
let moves = 0;

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
  const res = await fetch('effects');
  if (!res.ok) throw new Error(`GET effects answered ${res.status}`);
  const listing = await res.json();
  effects = listing.effects;
  offerCaptions(listing.audio);
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
  if (call) await sendChange(currentJob());
}

/** A change request for the running call: on the control channel, or PATCH when it is not open. */
async function sendChange(change) {
  if (call.channel?.readyState === 'open') {
    call.channel.send(JSON.stringify(change));
    return;
  }
  const res = await fetch(call.resourceUrl, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', ...authHeaders() },
    body: JSON.stringify(change),
  });
  if (!res.ok) setStatus(`Change refused: ${(await res.json()).detail}`, true);
}

// ---- WHIP -----------------------------------------------------------------------------------------

/** ICE servers from the WHIP endpoint's Link headers (RFC 9725 §4.6), if it lists any. */
async function iceServers() {
  try {
    const res = await fetch('whip', { method: 'OPTIONS', headers: authHeaders() });
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

// ---- audio and captions ---------------------------------------------------------------------------

/** The caption languages and translations GET /effects lists, when the pod has a recogniser. */
function offerCaptions(audio) {
  const captions = audio?.captions;
  if (!captions?.available) return;
  for (const [select, values] of [[ui.captions, captions.languages], [ui.translate, captions.translations]]) {
    for (const lang of values) select.append(new Option(lang, lang));
    select.disabled = false;
  }
  ui.subtitles.disabled = false;
}

/** The audio part of the WHIP query: the audio effect, and captions when chosen (they need the microphone). */
function audioQuery() {
  if (ui.audio.value === 'off') return {};
  const query = { audio: ui.audio.value };
  if (ui.captions.value || ui.translate.value) {
    if (ui.captions.value) query.captions = ui.captions.value;
    if (ui.translate.value) query.translate = ui.translate.value;
    query.subtitles = ui.subtitles.value;
  }
  return query;
}

/** The latest caption under the processed video (the translation beside the words when there is one). */
function showCaption(caption) {
  ui.captionText.hidden = false;
  ui.captionText.classList.toggle('partial', !caption.final);
  ui.captionText.textContent = caption.translation ? `${caption.text} — ${caption.translation.text}` : caption.text;
}

/**
 * Publishes `stream` with `job`'s effect: a peer connection with the control channel, the offer
 * POSTed to /whip, the answer applied. Returns the call's connection; throws on a refusal. With
 * `retryUntil` (a performance.now() deadline) a refused or failed POST is sent again with the same
 * offer until then (a move's POST may reach the draining pod before the balancer drops it).
 */
async function publish(stream, job, retryUntil = 0) {
  const pc = new RTCPeerConnection({ iceServers: await iceServers() });
  try {
    const [track] = stream.getVideoTracks();
    pc.addTransceiver(track, { direction: 'sendrecv', streams: [stream] });
    // The microphone, processed by the session's audio effect, comes back on the same connection.
    const [mic] = stream.getAudioTracks();
    if (mic) pc.addTransceiver(mic, { direction: 'sendrecv', streams: [stream] });
    const channel = pc.createDataChannel('control');
    channel.addEventListener('message', (e) => onControl(pc, JSON.parse(e.data)));
    pc.addEventListener('track', (e) => {
      // The processed video and audio of the call in force (a move switches over once the new one flows).
      if (call && call.pc !== pc) return;
      if (e.track.kind === 'video') ui.processed.srcObject = new MediaStream([e.track]);
      else if (e.track.kind === 'audio') ui.processedAudio.srcObject = new MediaStream([e.track]);
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed' && call?.pc === pc) void stop(undefined, 'The connection failed.');
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    const query = new URLSearchParams({
      effect: job.effect,
      ...Object.fromEntries(Object.entries(job.params).map(([k, v]) => [k, String(v)])),
      ...(stream.getAudioTracks().length > 0 ? audioQuery() : {}),
    });
    let res;
    for (;;) {
      res = await fetch(`whip?${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp', ...authHeaders() },
        body: pc.localDescription.sdp,
      }).catch(() => undefined);
      if (res?.status === 201 || performance.now() + MOVE_RETRY_MS > retryUntil) break;
      await new Promise((resolve) => setTimeout(resolve, MOVE_RETRY_MS));
    }
    if (!res) throw new Error('the service did not answer');
    if (res.status !== 201) {
      const detail = (await res.json().catch(() => ({}))).detail ?? res.statusText;
      const retry = res.headers.get('retry-after');
      throw new Error(`${res.status}: ${detail}${retry ? ` (retry in ${retry} s)` : ''}`);
    }
    const resourceUrl = atBase(res.headers.get('location'));
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    return { pc, channel, resourceUrl };
  } catch (err) {
    pc.close();
    throw err;
  }
}

/** A message on a call's control channel: the effect in force, an error, or the pod's drain notice. */
function onControl(pc, reply) {
  if (call?.pc !== pc) return;
  if (reply.type === 'drain') return void move(reply.seconds);
  if (reply.type === 'caption') return showCaption(reply);
  // Frames over the server's MAX_FRAME_PIXELS are dropped and said so once (payload_too_large).
  if (reply.type === 'error') setStatus(reply.error === 'payload_too_large' ? reply.detail : `Effect change refused: ${reply.detail}`, true);
  else setStatus(`Streaming with ${reply.effect}.`);
}

/** Resolves with the time `pc` has decoded its first processed frame (its stats, read every 50 ms). */
async function firstFrameDecoded(pc) {
  for (;;) {
    let decoded = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') decoded += r.framesDecoded ?? 0;
    });
    if (decoded > 0) return performance.now();
    if (pc.connectionState === 'closed' || pc.connectionState === 'failed') return undefined;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Resolves with the time `video` shows its first frame of the stream it now plays (or after `timeoutMs`). */
function firstFrameShown(video, timeoutMs) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve(performance.now());
    };
    if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(done);
    else video.addEventListener('loadeddata', done, { once: true });
  });
}

/**
 * The pod is draining: publish the same camera again (the balancer sends it to another pod; a
 * refusal is retried until the old session's end). Make before break: the old call's video stays
 * on screen, served by the draining pod, until the new call has decoded its first processed frame;
 * then the page switches to it and ends the old session. What the audience sees of the move is
 * the switch itself: from it to the new stream's first frame on screen (the gap, kept in
 * data-move-gap-ms).
 */
async function move(seconds) {
  const old = call;
  if (!old || old.moving) return;
  old.moving = true;
  const noticeAt = performance.now();
  const deadline = noticeAt + seconds * 1000;
  setStatus('This pod is shutting down: moving the call to another pod…');
  while (call === old && performance.now() < deadline) {
    let next;
    try {
      next = await publish(old.stream, currentJob(), deadline);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, MOVE_RETRY_MS));
      continue;
    }
    const decodedAt = await Promise.race([firstFrameDecoded(next.pc), new Promise((resolve) => setTimeout(() => resolve(undefined), Math.max(0, deadline - performance.now())))]);
    if (call !== old || decodedAt === undefined) {
      next.pc.close();
      fetch(next.resourceUrl, { method: 'DELETE', headers: authHeaders() }).catch(() => undefined);
      if (call === old) setStatus('This pod is shutting down and the call could not move: no video came back from another pod.', true);
      return;
    }
    call = { ...old, ...next, last: undefined, moving: false };
    document.body.dataset.session = next.resourceUrl;
    ui.session.textContent = new URL(next.resourceUrl).pathname;
    const switchedAt = performance.now();
    const receiver = next.pc.getReceivers().find((r) => r.track?.kind === 'video');
    if (receiver) ui.processed.srcObject = new MediaStream([receiver.track]);
    const audioReceiver = next.pc.getReceivers().find((r) => r.track?.kind === 'audio');
    if (audioReceiver) ui.processedAudio.srcObject = new MediaStream([audioReceiver.track]);
    fetch(old.resourceUrl, { method: 'DELETE', headers: authHeaders() }).catch(() => undefined);
    old.pc.close();
    const shownAt = (await firstFrameShown(ui.processed, 5000)) ?? performance.now();
    moves += 1;
    document.body.dataset.moves = String(moves);
    document.body.dataset.moveGapMs = String(Math.round(shownAt - switchedAt));
    document.body.dataset.moveSwitchMs = String(Math.round(switchedAt - noticeAt));
    setStatus(`Moved to another pod ${(Math.round(switchedAt - noticeAt) / 1000).toFixed(1)} s after its notice; the video paused ${Math.round(shownAt - switchedAt)} ms.`);
    return;
  }
  if (call === old) setStatus('This pod is shutting down and no other pod took the call.', true);
}

async function start(event) {
  event.preventDefault();
  if (call) return;
  ui.start.disabled = true;
  setStatus('Asking for the camera…');
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
      audio: ui.audio.value !== 'off',
    });
    ui.local.srcObject = stream;
    setStatus('Connecting…');
    const job = currentJob();
    const { pc, channel, resourceUrl } = await publish(stream, job);
    call = { pc, stream, channel, resourceUrl, last: undefined, moving: false, timer: setInterval(() => void updateStats(), STATS_INTERVAL_MS) };
    // Whether this call is captioned, set before the session: the transcript (captions.js) follows only such calls.
    const asked = stream.getAudioTracks().length > 0 ? audioQuery() : {};
    const captioned = 'captions' in asked || 'translate' in asked;
    if (captioned) document.body.dataset.captions = 'on';
    else delete document.body.dataset.captions;
    document.body.dataset.session = resourceUrl;
    ui.session.textContent = new URL(resourceUrl).pathname;
    ui.stop.disabled = false;
    for (const select of [ui.captions, ui.translate]) select.disabled = true;
    setStatus(`Streaming with ${job.effect}.`);
  } catch (err) {
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
  ui.processedAudio.srcObject = null;
  ui.captionText.hidden = true;
  ui.captionText.textContent = '';
  for (const select of [ui.captions, ui.translate]) select.disabled = select.options.length <= 1;
  delete document.body.dataset.session;
  delete document.body.dataset.captions;
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
// The audio effect and subtitles change in the running call (captions and translation are chosen at Start).
for (const [select, key] of [[ui.audio, 'audio'], [ui.subtitles, 'subtitles']]) {
  select.addEventListener('change', () => {
    if (!call || (key === 'audio' && select.value === 'off')) return;
    if (key === 'subtitles' && !ui.captions.value && !ui.translate.value) return;
    void sendChange({ [key]: select.value });
  });
}
ui.form.addEventListener('submit', (e) => void start(e));
ui.stop.addEventListener('click', (e) => void stop(e));
// Leaving the page ends the session at once instead of after SESSION_IDLE_SECONDS.
window.addEventListener('pagehide', () => {
  if (call) void fetch(call.resourceUrl, { method: 'DELETE', headers: authHeaders(), keepalive: true });
});

loadEffects().catch((err) => setStatus(`Could not load effects: ${err.message}`, true));
