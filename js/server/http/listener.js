'use strict';
// Creates the HTTP listener every HTTP protocol shares. The one place a transport option (TLS,
// a second listener for management routes) belongs.

const http = require('node:http');

/** options: normalized (options.js); handler: the Router's request listener. */
function createListener(options, handler) {
  return http.createServer({
    requestTimeout: options.requestTimeoutMs,
    headersTimeout: Math.min(options.requestTimeoutMs, 60000),
    keepAliveTimeout: 5000,
  }, handler);
}

module.exports = { createListener };
