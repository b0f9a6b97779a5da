'use strict';
// The server's own failures, protocol-neutral: a stable CHORI_* code and a message, never a
// status. Each protocol adapter (js/server/protocols/) maps codes to its statuses. The model's
// codes (js/errors.js) keep their names; the server adds its own, for what only a server can get
// wrong.

const { ChoriError, codes } = require('../../errors');

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
  MODEL_VERSION_NOT_FOUND: 'CHORI_MODEL_VERSION_NOT_FOUND',
  UNAUTHENTICATED: 'CHORI_UNAUTHENTICATED',
  FORBIDDEN: 'CHORI_FORBIDDEN',
  SELF_CHECK_FAILED: 'CHORI_SELF_CHECK_FAILED',
});

/** Every code a client may see: anything else thrown is a bug, answered as CHORI_INTERNAL. */
const KNOWN = new Set([...Object.values(codes), ...Object.values(serverCodes)]);

/** How long a client told "overloaded" should wait before trying again, in seconds. */
const RETRY_AFTER_S = 1;

/**
 * A ChoriError with hints a transport may act on: retryAfterS (overloaded), closeConnection
 * (the rest of a body was not read), allow (the methods a route takes), wwwAuthenticate (the
 * challenge a refused request gets back: http/auth.js).
 */
class ServerError extends ChoriError {
  constructor(code, message, hints = {}) {
    super(code, message);
    this.name = 'ServerError';
    this.hints = hints;
  }
}

const badRequest = (message) => new ServerError(serverCodes.BAD_REQUEST, message);
const overloaded = (message) => new ServerError(serverCodes.OVERLOADED, message, { retryAfterS: RETRY_AFTER_S });

/**
 * { code, message, hints, internal } for any thrown value. Errors without a known code are
 * bugs: their message stays in the log (internal: true), the client gets CHORI_INTERNAL.
 */
function classify(err) {
  const code = typeof err?.code === 'string' && KNOWN.has(err.code) ? err.code : null;
  if (!code) return { code: codes.INTERNAL, message: 'internal server error', hints: {}, internal: true };
  const hints = { ...(err.hints ?? {}) };
  // The model may report its own queue limit (CHORI_OVERLOADED from the addon): it means the same as ours.
  if (code === serverCodes.OVERLOADED) hints.retryAfterS ??= RETRY_AFTER_S;
  return { code, message: err.message, hints, internal: false };
}

module.exports = { ServerError, serverCodes, badRequest, overloaded, classify, RETRY_AFTER_S };
