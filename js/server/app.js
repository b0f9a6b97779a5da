'use strict';
// The server's composition and lifecycle: one data plane (core/dataplane.js), the protocols
// mounted on the HTTP listener (http/router.js), listen → load the models → serve, and a
// graceful stop (not ready, serve on for --drain-delay-ms, stop accepting, finish in-flight
// requests, unload).

const { setTimeout: sleep } = require('node:timers/promises');
const { ServerError, serverCodes } = require('./core/errors');
const { DataPlane } = require('./core/dataplane');
const { createLogger } = require('./core/log');
const { createHttpTransport } = require('./http/transport');
const choriRest = require('./protocols/chori-rest');
const oipRest = require('./protocols/oip-rest');
const webUi = require('./protocols/web-ui');
const torchserve = require('./protocols/torchserve');

/** The HTTP protocols, in mount order; the first answers paths no protocol claims. */
const HTTP_PROTOCOLS = [choriRest, oipRest, webUi, torchserve];

class ChoriServer {
  #options;
  #http;
  #transport;
  #dataPlane;
  #log;
  #closing = null;
  // Set once listen() has reported the server ready: only then can a balancer be sending to it.
  #served = false;
  #binding = null;
  #grpc = null;
  // Aborted by close(): loading stops before the next model.
  #stopLoading = new AbortController();

  /** options: normalized (options.js). */
  constructor(options) {
    this.#options = options;
    this.#log = createLogger(options.logFormat, options.logStream);
    this.#dataPlane = new DataPlane(options, this.#log);
    this.#transport = createHttpTransport({
      options, dataPlane: this.#dataPlane, log: this.#log, isClosing: () => this.#closing !== null, protocols: HTTP_PROTOCOLS,
    });
    // The inference and management listeners, bound, drained and closed as one.
    this.#http = this.#transport.listeners;
    if (options.grpcPort !== undefined) this.#grpc = this.#createGrpc();
  }

  get registry() {
    return this.#dataPlane.registry;
  }

  get dataPlane() {
    return this.#dataPlane;
  }

  /** http(s)://host:port of the inference listener once listening. */
  get url() {
    return this.#http.url;
  }

  /** http(s)://host:port of the management listener once listening. */
  get managementUrl() {
    return this.#http.managementUrl;
  }

  /** host:port of the gRPC listener (Open Inference Protocol) once bound; null without --grpc-port. */
  get grpcAddress() {
    return this.#grpc?.address ?? null;
  }

  // Required here, not at the top: @grpc/grpc-js loads only when --grpc-port asks for it.
  #createGrpc() {
    const { createGrpcServer } = require('./protocols/oip-grpc');
    const grpc = require('@grpc/grpc-js');
    const { authorizeGrpc } = require('./http/auth');
    return createGrpcServer({
      dataPlane: this.#dataPlane,
      options: this.#options,
      log: this.#log,
      authorize: (access, metadata) => authorizeGrpc(this.#transport.auth, access, metadata),
      credentials: this.#transport.grpcCredentials(grpc),
    });
  }

  /**
   * Binds the port (GET /healthz answers at once), then loads every model (GET /readyz turns 200).
   * Resolves once every model is loaded (with allowPartial: those that could be), or, when
   * close() is called meanwhile, once that stop is done; rejects when a model fails to load.
   */
  async listen() {
    this.#binding = new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(this.#options.port, this.#options.host, () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
    // gRPC binds after HTTP, inside #binding: a stop waits for both.
    this.#binding = this.#binding.then(() => this.#grpc?.listen(this.#options.host, this.#options.grpcPort).catch((err) => {
      this.#http.close();
      throw err;
    }));
    await this.#binding;
    const registry = this.#dataPlane.registry;
    this.#log.event('info', 'loading models', {
      url: this.url, ...(this.#grpc && { grpc: this.#grpc.address }), models: registry.names.join(','), pid: process.pid,
    });
    try {
      await registry.loadAll({ allowPartial: this.#options.allowPartial, signal: this.#stopLoading.signal });
    } catch (err) {
      // Read before close() below aborts it: was this stop asked for, or caused by the failure?
      const stopped = this.#stopLoading.signal.aborted;
      await this.close();
      if (stopped) return this;
      throw err;
    }
    await this.#dataPlane.selfChecked(); // ready (and 'listening') only once the golden sets are checked
    if (this.#closing) {
      await this.#closing; // the last model loaded as the stop began
      return this;
    }
    this.#served = true;
    if (this.#options.watch) registry.watch(this.#options.watchIntervalMs);
    const failed = registry.failed().map((f) => f.name);
    this.#log.event('info', 'listening', {
      url: this.url, models: registry.loadedNames.join(','), ...(failed.length > 0 && { failed: failed.join(',') }), pid: process.pid,
      ...this.#transport.describe(), ...(this.#grpc && { grpc: this.#grpc.address }),
    });
    return this;
  }

  /**
   * Turns not ready, keeps serving for drainDelayMs when it was ready (answers say Connection:
   * close), stops accepting connections, lets requests in flight finish (at most
   * shutdownTimeoutMs, then closes the rest), and unloads the models. Resolves { forced } once everything is closed.
   */
  close(signal) {
    this.#closing ??= this.#drain(signal);
    return this.#closing;
  }

  /** signal: the signal that asked for the stop (logged), if any. */
  async #drain(signal) {
    const registry = this.#dataPlane.registry;
    const loading = this.#binding !== null && !registry.ready;
    // Balancers send traffic only to a ready server; only then is a drain delay needed.
    const serving = this.#served && this.#dataPlane.ready;
    this.#dataPlane.drain();
    this.#stopLoading.abort(new ServerError(serverCodes.NOT_READY, 'the server is shutting down'));
    const delayMs = serving ? this.#options.drainDelayMs : 0;
    if (signal) this.#log.event('info', 'stopping', { signal, while: loading ? 'loading' : 'serving', ...(delayMs > 0 && { drain_delay_ms: delayMs }) });
    // A port still being bound would start listening after close(): wait for it first.
    await this.#binding?.catch(() => {});
    // A balancer (or Kubernetes' endpoint removal) sees /readyz turn 503 only at its next check:
    // until then it still sends requests, so keep taking them, each answer saying Connection:
    // close so that keep-alive connections end, and stop listening only afterwards.
    if (delayMs > 0) await sleep(delayMs);
    const wasListening = this.#http.listening;
    const closed = new Promise((resolve) => this.#http.close(() => resolve(false)));
    const grpcClosed = this.#grpc?.address ? this.#grpc.close(this.#options.shutdownTimeoutMs) : { forced: false };
    this.#http.closeIdleConnections();
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve(true), this.#options.shutdownTimeoutMs);
    });
    const forced = wasListening ? await Promise.race([closed, timeout]) : false;
    clearTimeout(timer);
    if (forced) this.#http.closeAllConnections();
    const grpcForced = (await grpcClosed).forced;
    this.#transport.stop();
    await registry.close();
    this.#log.event(forced || grpcForced ? 'warn' : 'info', 'stopped', { forced: forced || grpcForced });
    return { forced: forced || grpcForced };
  }
}

module.exports = { ChoriServer };
