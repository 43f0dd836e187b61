// The captions transcript of the demo page: the running session's final captions (with their
// translation) as its Server-Sent Events stream delivers them (GET /whip/{id}/captions, the route
// viewers and tools use too), the words being spoken, and the session's WebVTT file. It watches
// document.body.dataset.session, which app.js sets to the session's resource URL while a call runs.
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

function follow(url) {
  if (url === sessionUrl) return;
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
  // A session without captions answers 404 and the stream stays closed (EventSource does not retry a refusal).
  source = new EventSource(`${url}/captions`);
  source.addEventListener('message', (e) => onCaption(JSON.parse(e.data)));
  source.addEventListener('end', () => {
    source?.close();
    source = undefined;
  });
}

new MutationObserver(() => follow(document.body.dataset.session)).observe(document.body, { attributes: true, attributeFilter: ['data-session'] });
follow(document.body.dataset.session);
