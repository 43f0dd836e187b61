/** Raised by the run itself when a request outlives --timeout. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  readonly code = 'RTC_LOAD_TIMEOUT';
}

const CAUSE_BY_CODE: Readonly<Record<string, string>> = {
  RTC_LOAD_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'connect_timeout',
  ETIMEDOUT: 'connect_timeout',
  ECONNREFUSED: 'connection_refused',
  ECONNRESET: 'connection_reset',
  EPIPE: 'connection_reset',
  UND_ERR_SOCKET: 'socket_closed',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  UND_ERR_ABORTED: 'aborted',
  UND_ERR_CLOSED: 'aborted',
  UND_ERR_DESTROYED: 'aborted',
  UND_ERR_INFO: 'protocol',
  HPE_INVALID_CONSTANT: 'protocol',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'protocol',
};

/** Maps a transport error to a short, bounded cause name (never the message text). */
export function errorCause(error: unknown): string {
  let current: unknown = error;
  // Connection errors sometimes arrive wrapped (AggregateError from happy eyeballs, `cause` chains).
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      const known = CAUSE_BY_CODE[code];
      if (known !== undefined) return known;
      if (code.startsWith('HPE_')) return 'protocol';
      if (code.startsWith('ERR_TLS') || code.includes('CERT')) return 'tls';
    }
    if (current instanceof AggregateError && current.errors.length > 0) current = current.errors[0];
    else current = current.cause;
  }
  return 'other';
}
