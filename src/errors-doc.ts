import { CONTROL_ERROR_CODES, ERRORS, REJECT_REASONS, type ControlErrorCode, type RejectReason } from './errors.ts';

const REASONS: Readonly<Record<RejectReason, string>> = {
  queue_full: 'the `/process` waiting room holds MAX_QUEUE jobs, or this client its CLIENT_QUEUE_SHARE of them: answered at once, with `Connection: close`; `overloaded`',
  queue_timeout: 'a `/process` job waited MAX_QUEUE_WAIT_SECONDS without reaching a worker (others were served first): answered after that wait; `overloaded`',
  pressure: 'the event loop is over MAX_EVENT_LOOP_DELAY_MS or MAX_EVENT_LOOP_UTILIZATION; `overloaded`',
  rate_limited: 'an address opened more than SESSION_RATE_LIMIT_PER_MINUTE sessions, or a session changed its effect (PATCH, control messages) more than EFFECT_CHANGES_PER_SECOND; `rate_limited`',
  draining: 'the pod is shutting down and takes no new session; `unavailable`',
  sessions_full: 'the pod holds MAX_SESSIONS peer connections; `unavailable`',
  frame_slo: 'the frame p95 is over FRAME_SLO_MS (SLO_ADMISSION); `unavailable`',
  cost: 'one job would take longer than MAX_JOB_SECONDS (pixels x passes x the effect\'s weight); `too_costly`',
  memory: 'the bytes in flight would pass MEMORY_BUDGET_BYTES or the client\'s MEMORY_CLIENT_SHARE (`overloaded`), or a job does not fit WORKER_MEMORY_BYTES (`payload_too_large`)',
  deadline: 'a `/process` job was not done within REQUEST_DEADLINE_SECONDS and was stopped; `overloaded`',
  sessions_per_client: 'the address holds MAX_SESSIONS_PER_CLIENT peer connections; `too_many_sessions`',
  forward_full: 'this replica is forwarding FORWARD_MAX_INFLIGHT calls, or relaying FORWARD_MAX_STREAMS captions streams, to session owners; `overloaded`',
  fleet_signature: 'a call carried the fleet\'s forwarding headers without a valid signature: no FLEET_SECRET, another secret, out of FLEET_SIGNATURE_WINDOW_SECONDS, replayed, or a body other than the one signed; `invalid_fleet_signature`',
  turn_credentials: 'an address asked OPTIONS for minted TURN credentials more than TURN_CREDENTIALS_PER_MINUTE times; `rate_limited`',
  ice_rate: 'a publisher or viewer sent trickle-ICE PATCHes faster than ICE_TRICKLE_PER_SECOND, or restarted ICE more than ICE_RESTARTS_PER_MINUTE; `rate_limited`',
  ice_candidates: 'an offer or trickle PATCH would give one peer connection more than MAX_REMOTE_CANDIDATES usable candidates; `bad_request` (offer) or `unprocessable` (trickle). Candidates dropped by the address filter are counted in `app_ice_candidates_dropped_total{reason}` instead',
  backdrop_rate: 'backdrop uploads over BACKDROP_UPLOADS_PER_MINUTE, from one address on a replica or for one session on its owner; `rate_limited`',
  data_channel: 'a publisher opened a data channel other than one `control` channel (it is closed), or sent a control message over CONTROL_MESSAGE_MAX_BYTES (`payload_too_large` on the channel)',
  captions_full: 'a session asked for captions while the pod captions CAPTIONS_MAX_SESSIONS sessions (each holds a recogniser thread); `unavailable`',
};

const CONTROL_ERRORS: Readonly<Record<ControlErrorCode, string>> = {
  bad_request: 'a message that is not a JSON text object',
  unprocessable: 'an unknown effect or audio effect, a parameter or `iters` out of range, an audio change in a session without audio, or `subtitles: "burn"` in one without captions',
  too_costly: 'an effect change that would cost more than MAX_FRAME_EFFECT_MS a frame at the session\'s frame size (it is not applied); or frames dropped because the effect in force costs that much, said once per effect choice and frame size',
  rate_limited: 'messages over the session\'s EFFECT_CHANGES_PER_SECOND (shared with PATCH): the others are dropped unanswered, and this is said at most once a second',
  payload_too_large: 'a message over CONTROL_MESSAGE_MAX_BYTES, refused before it is parsed; or frames over MAX_FRAME_PIXELS dropped, said once per size',
};

/** docs/errors.md, generated from the catalog in src/errors.ts so the two never drift. */
export function errorsMarkdown(): string {
  const rows = Object.entries(ERRORS).map(([code, spec]) => {
    const status = spec.status === 0 ? 'start-up' : String(spec.status);
    const retry = 'retryable' in spec && spec.retryable ? 'yes' : 'no';
    return `| \`${code}\` | ${status} | ${retry} | ${spec.message.replaceAll('|', '\\|')} |`;
  });
  const control = CONTROL_ERROR_CODES.map((c) => `| \`${c}\` | ${CONTROL_ERRORS[c].replaceAll('|', '\\|')} |`);
  const reasons = REJECT_REASONS.map((r) => `| \`${r}\` | ${REASONS[r].replaceAll('|', '\\|')} |`);
  return [
    '# Errors',
    '',
    '<!-- Generated from src/errors.ts by `npm run docs:errors`; a test fails when it is out of date. -->',
    '',
    'Every error a client sees is JSON `{"error": code, "detail": text}` with the status of its code. The',
    'code is stable; the detail is for people and may change. A 500 carries only its code and the generic',
    'text below (what failed is in the server log). Retryable errors carry `Retry-After` (seconds), except',
    '`bad_gateway` and `gateway_timeout` (the replica that holds the session failed this one call: retry).',
    'Start-up errors never reach a client: the process prints them and exits.',
    '',
    '| code | status | retryable | meaning |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    '## The control data channel',
    '',
    'A WebRTC publisher\'s `control` data channel answers a change request with the effect in force,',
    '`{"type": "effect", "effect", "params", "iters"}`, or with `{"type": "error", "error": code, "detail": text}`,',
    'the code one of these from the catalog:',
    '',
    '| code | when |',
    '| --- | --- |',
    ...control,
    '',
    '## Rejections',
    '',
    'Refused work is counted in `app_rejected_total{reason}` where the refusal is decided:',
    '',
    '| reason | when |',
    '| --- | --- |',
    ...reasons,
    '',
  ].join('\n');
}
