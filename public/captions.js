// The captions transcript of the demo page: the running session's final captions (with their
// translation) as its Server-Sent Events stream delivers them (GET /whip/{id}/captions, the route
// viewers and tools use too), the words being spoken, and the session's WebVTT file. It watches
// document.body.dataset.session, which app.js sets to the session's resource URL while a call runs,
// and dataset.captions ("on" when that call is captioned).
// Plain browser JavaScript, nothing built.

/** The transcript keeps this many lines on the page (the WebVTT file has the rest). */
const MAX_LINES = 40;

const section = document.createElement('section');
section.id = 'transcript';
section.hidden = true;
section.innerHTML = '<h2>Transcript</h2><ol id="caption-log"></ol><p id="caption-live" class="caption partial"></p><p><a id="caption-vtt" download="captions.vtt">WebVTT of the session</a></p>';
document.querySelector('main')?.after(section);
const log = section.querySelector('#caption-log');
const live = section.querySelector('#caption-live');
const vtt = section.querySelector('#caption-vtt');

let source;
let sessionUrl;
let retryTimer;
/**
 * Any replica of a fleet serves the stream (one that does not hold the session relays the owner's);
 * a refusal (a replica full of relayed streams: 503) is asked again a few times.
 */
const MAX_TRIES = 20;
const RETRY_MS = 1000;

function line(caption) {
  const item = document.createElement('li');
  item.textContent = caption.text;
  item.dataset.startMs = String(caption.startMs);
  if (caption.translation) {
    const translation = document.createElement('span');
    translation.className = 'translation';
    translation.lang = caption.translation.lang;
    translation.textContent = caption.translation.text;
    item.append(' ', translation);
  }
  return item;
}

function onCaption(caption) {
  section.hidden = false;
  if (!caption.final) {
    live.textContent = caption.text;
    return;
  }
  live.textContent = '';
  if (caption.text === '') return;
  // The latest caption comes first on a new stream: it may be one the transcript has already.
  if (log.lastElementChild?.dataset.startMs === String(caption.startMs)) return;
  log.append(line(caption));
  while (log.childElementCount > MAX_LINES) log.firstElementChild.remove();
}

function connect(url, tries) {
  let opened = false;
  source = new EventSource(`${url}/captions`);
  source.addEventListener('open', () => {
    opened = true;
  });
  source.addEventListener('message', (e) => onCaption(JSON.parse(e.data)));
  source.addEventListener('end', () => {
    source?.close();
    source = undefined;
  });
  // A refusal (a session without captions, or a replica that relays FORWARD_MAX_STREAMS) closes the stream for good:
  // EventSource retries only a stream that was open.
  source.addEventListener('error', () => {
    if (source?.readyState !== EventSource.CLOSED || opened || url !== sessionUrl || tries >= MAX_TRIES) return;
    source = undefined;
    retryTimer = setTimeout(() => url === sessionUrl && connect(url, tries + 1), RETRY_MS);
  });
}

function follow(url) {
  if (url === sessionUrl) return;
  clearTimeout(retryTimer);
  source?.close();
  source = undefined;
  sessionUrl = url;
  if (!url) {
    live.textContent = '';
    return;
  }
  log.replaceChildren();
  section.hidden = true;
  vtt.href = `${url}/captions.vtt`;
  connect(url, 1);
}

// app.js sets data-captions="on" (before data-session) when the call it starts is captioned: a call
// without captions has no stream to follow.
const captionedSession = () => (document.body.dataset.captions === 'on' ? document.body.dataset.session : undefined);
new MutationObserver(() => follow(captionedSession())).observe(document.body, { attributes: true, attributeFilter: ['data-session', 'data-captions'] });
follow(captionedSession());
