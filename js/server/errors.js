'use strict';
// The server's failure answers: every error becomes `{ error: { code, message } }` with an HTTP
// status chosen from its code. The model's codes (js/errors.js) keep their names; the server adds
// its own, for what only a server can get wrong.

const { ChoriError, codes } = require('../errors');

const serverCodes = Object.freeze({
  BAD_REQUEST: 'CHORI_BAD_REQUEST',
  BODY_TOO_LARGE: 'CHORI_BODY_TOO_LARGE',
  NOT_FOUND: 'CHORI_NOT_FOUND',
  METHOD_NOT_ALLOWED: 'CHORI_METHOD_NOT_ALLOWED',
  MODEL_NOT_FOUND: 'CHORI_MODEL_NOT_FOUND',
  NOT_READY: 'CHORI_NOT_READY',
  OVERLOADED: 'CHORI_OVERLOADED',
  DEADLINE_EXCEEDED: 'CHORI_DEADLINE_EXCEEDED',
  URL_DISABLED: 'CHORI_URL_DISABLED',
  URL_INVALID: 'CHORI_URL_INVALID',
  URL_FORBIDDEN: 'CHORI_URL_FORBIDDEN',
  URL_FETCH: 'CHORI_URL_FETCH',
  URL_TIMEOUT: 'CHORI_URL_TIMEOUT',
  URL_TOO_LARGE: 'CHORI_URL_TOO_LARGE',
});

const STATUS = {
  [codes.INVALID_ARGUMENT]: 400,
  [codes.EMPTY_INPUT]: 400,
  [codes.DECODE]: 400,
  [codes.TRUNCATED]: 400,
  [codes.UNSUPPORTED_FORMAT]: 400,
  [codes.IMAGE_TOO_LARGE]: 413,
  [codes.DISPOSED]: 503,
  [codes.MODEL_LOAD]: 500,
  [codes.MODEL_METADATA]: 500,
  [codes.INFERENCE]: 500,
  [codes.ADDON_NOT_BUILT]: 500,
  [codes.INTERNAL]: 500,
  [serverCodes.BAD_REQUEST]: 400,
  [serverCodes.URL_INVALID]: 400,
  [serverCodes.URL_DISABLED]: 403,
  [serverCodes.URL_FORBIDDEN]: 403,
  [serverCodes.NOT_FOUND]: 404,
  [serverCodes.MODEL_NOT_FOUND]: 404,
  [serverCodes.METHOD_NOT_ALLOWED]: 405,
  [serverCodes.BODY_TOO_LARGE]: 413,
  [serverCodes.URL_TOO_LARGE]: 413,
  [serverCodes.URL_FETCH]: 502,
  [serverCodes.NOT_READY]: 503,
  [serverCodes.OVERLOADED]: 503,
  [serverCodes.DEADLINE_EXCEEDED]: 504,
  [serverCodes.URL_TIMEOUT]: 504,
};

/** How long a client told "overloaded" should wait before trying again, in seconds. */
const RETRY_AFTER_S = 1;

/** A ChoriError that knows its HTTP status and any headers its answer needs. */
class HttpError extends ChoriError {
  constructor(code, message, headers = {}) {
    super(code, message);
    this.name = 'HttpError';
    this.status = STATUS[code] ?? 500;
    this.headers = headers;
  }
}

function overloaded(message) {
  return new HttpError(serverCodes.OVERLOADED, message, { 'Retry-After': String(RETRY_AFTER_S) });
}

/**
 * The answer for any thrown value: { status, headers, body }. Errors without a known code are
 * bugs: their message stays in the log, the client gets CHORI_INTERNAL.
 */
function toAnswer(err) {
  const code = typeof err?.code === 'string' && err.code in STATUS ? err.code : null;
  if (!code) {
    return { status: 500, headers: {}, body: { error: { code: codes.INTERNAL, message: 'internal server error' } }, internal: true };
  }
  const headers = { ...(err.headers ?? {}) };
  // The model may one day report its own queue limit; it means the same as ours.
  if (code === serverCodes.OVERLOADED && !headers['Retry-After']) headers['Retry-After'] = String(RETRY_AFTER_S);
  return { status: STATUS[code], headers, body: { error: { code, message: err.message } } };
}

module.exports = { HttpError, serverCodes, overloaded, toAnswer, RETRY_AFTER_S };
