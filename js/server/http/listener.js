'use strict';
// The server's HTTP listeners: the inference listener (--host/--port) every protocol shares, and
// the management listener (--management-host/--management-port: loopback by default) that alone
// serves the routes that change what is served, as TorchServe separates 8080 and 8081. Both are
// https with --tls-cert/--tls-key. Listeners speaks the part of http.Server's interface the
// lifecycle (app.js) uses, so that binding, draining and closing treat the pair as one server.

const http = require('node:http');
const https = require('node:https');
const { EventEmitter } = require('node:events');

function serverOptions(options) {
  return {
    requestTimeout: options.requestTimeoutMs,
    headersTimeout: Math.min(options.requestTimeoutMs, 60000),
    keepAliveTimeout: 5000,
  };
}

/** options: normalized (options.js); handler: a Router's request listener; pair: TLS { cert, key } or null. */
function createListener(options, handler, pair = null) {
  return pair ? https.createServer({ ...serverOptions(options), ...pair }, handler) : http.createServer(serverOptions(options), handler);
}

function urlOf(server, scheme) {
  const { address, port } = server.address();
  return `${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/**
 * A protocol module whose routes() keeps only the routes of the given access levels: each listener
 * mounts the protocols through it, so a management route does not exist on the inference port.
 */
function withAccess(protocol, levels) {
  return { ...protocol, routes: (deps) => protocol.routes(deps).filter((r) => levels.includes(r.access)) };
}

class Listeners extends EventEmitter {
  #options;
  #scheme;
  #inference;
  #management;

  /** handlers: { inference, management } (Routers' request listeners); pair: TLS { cert, key } or null. */
  constructor(options, handlers, pair = null) {
    super();
    this.#options = options;
    this.#scheme = pair ? 'https' : 'http';
    this.#inference = createListener(options, handlers.inference, pair);
    this.#management = createListener(options, handlers.management, pair);
  }

  /** The https servers, for TLS reloads (http/tls.js watchPair); empty without TLS. */
  get secureServers() {
    return this.#scheme === 'https' ? [this.#inference, this.#management] : [];
  }

  /**
   * Binds the inference listener on (port, host), then the management listener on its own
   * address; calls back once both listen. A failure of either closes the other and emits 'error'.
   */
  listen(port, host, callback) {
    const bind = (server, p, h) => new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, h, () => {
        server.off('error', reject);
        resolve();
      });
    });
    bind(this.#inference, port, host)
      .then(() => bind(this.#management, this.#options.managementPort, this.#options.managementHost))
      .then(callback, (err) => {
        for (const server of [this.#inference, this.#management]) if (server.listening) server.close();
        this.emit('error', err);
      });
    return this;
  }

  get listening() {
    return this.#inference.listening || this.#management.listening;
  }

  /** The inference listener's address. */
  address() {
    return this.#inference.address();
  }

  /** scheme://host:port of the inference listener, once listening. */
  get url() {
    return urlOf(this.#inference, this.#scheme);
  }

  /** scheme://host:port of the management listener, once listening. */
  get managementUrl() {
    return urlOf(this.#management, this.#scheme);
  }

  /** Stops accepting on both; calls back once both have closed (their connections ended). */
  close(callback) {
    const closing = [this.#inference, this.#management].map((server) => new Promise((resolve) => {
      if (!server.listening) resolve();
      else server.close(() => resolve());
    }));
    Promise.all(closing).then(() => callback?.());
    return this;
  }

  closeIdleConnections() {
    this.#inference.closeIdleConnections();
    this.#management.closeIdleConnections();
  }

  closeAllConnections() {
    this.#inference.closeAllConnections();
    this.#management.closeAllConnections();
  }
}

module.exports = { createListener, Listeners, withAccess };
