'use strict';
// Writes an answer on an HTTP response: { status, headers?, body (JSON) | text | bytes }.
// Every answer is no-store with an exact Content-Length; a server that is closing says
// Connection: close so that keep-alive clients move on.

/** The headers a ServerError's hints (core/errors.js) ask for. */
function hintHeaders(hints = {}) {
  const headers = {};
  if (hints.retryAfterS !== undefined) headers['Retry-After'] = String(hints.retryAfterS);
  if (hints.closeConnection) headers.Connection = 'close'; // the rest of the body was not read
  if (hints.allow) headers.Allow = hints.allow;
  if (hints.wwwAuthenticate) headers['WWW-Authenticate'] = hints.wwwAuthenticate; // a 401's challenge (http/auth.js)
  return headers;
}

function send(res, { status, headers = {}, body, text, bytes }, { closing = false } = {}) {
  if (res.headersSent || res.destroyed) return;
  const payload = bytes ?? Buffer.from(text ?? `${JSON.stringify(body)}\n`);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    ...headers,
    'Content-Length': payload.length,
    ...(closing && { Connection: 'close' }),
  });
  res.end(payload);
}

module.exports = { send, hintHeaders };
