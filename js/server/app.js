'use strict';
// The HTTP server: routes, the JSON answer for everything (errors included), a log line and
// metrics per request, and a graceful stop (stop accepting, finish in-flight requests, unload).

const http = require('node:http');
const { performance } = require('node:perf_hooks');
const { load } = require('../model');
const { HttpError, serverCodes, toAnswer } = require('./errors');
const { createLogger } = require('./log');
const { createMetrics } = require('./metrics');
const { createPredictHandlers, query } = require('./predict');
const { ModelRegistry } = require('./registry');
const { createGuard, createFetcher } = require('./url-fetch');

/** [route, pattern, { METHOD: handler(ctx, ...params) }]; HEAD is answered as GET. */
function routes(h) {
  return [
    ['/healthz', /^\/healthz$/, { GET: h.healthz }],
    ['/readyz', /^\/readyz$/, { GET: h.readyz }],
    ['/models', /^\/models$/, { GET: h.models }],
    ['/metrics', /^\/metrics$/, { GET: h.metrics }],
    ['/predict', /^\/predict$/, { POST: (ctx) => h.predict(ctx), GET: (ctx) => h.predict(ctx, undefined, true) }],
    ['/models/:name/predict', /^\/models\/([^/]+)\/predict$/, { POST: (ctx, name) => h.predict(ctx, name), GET: (ctx, name) => h.predict(ctx, name, true) }],
    ['/models/:name/reload', /^\/models\/([^/]+)\/reload$/, { POST: h.reload }],
  ].map(([route, pattern, methods]) => ({ route, pattern, methods }));
}

function decodeParam(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(serverCodes.BAD_REQUEST, `malformed percent-encoding in ${JSON.stringify(text)}`);
  }
}

class ChoriServer {
  #options;
  #http;
  #registry;
  #metrics;
  #log;
  #routes;
  #closing = null;
  #binding = null;
  // Aborted by close(): loading stops before the next model.
  #stopLoading = new AbortController();

  /** options: normalized (options.js). */
  constructor(options) {
    this.#options = options;
    this.#log = createLogger(options.logFormat, options.logStream);
    this.#registry = new ModelRegistry({
      models: options.models,
      load,
      loadOptions: {
        maxPixels: options.maxPixels,
        threads: options.threads,
        workers: options.workers,
        batch: options.batch,
        optimize: options.optimize,
      },
      maxQueue: options.maxQueue,
    });
    this.#metrics = createMetrics(this.#registry);
    this.#registry.on('loaded', (entry, previous) => this.#onLoaded(entry, previous));
    this.#registry.on('load-failed', (name, err) =>
      this.#log.event(options.allowPartial ? 'warn' : 'error', 'model failed to load', { model: name, code: err.code ?? 'CHORI_INTERNAL', error: err.message }));
    this.#registry.on('reload-failed', (name, err) =>
      this.#log.event('error', 'reload failed', { model: name, code: err.code ?? 'CHORI_INTERNAL', error: err.message }));

    const fetchImage = createFetcher({
      guard: createGuard({ resolve: options.resolve, allowPrivate: options.allowPrivateUrls }),
      maxBytes: options.urlMaxBytes,
      timeoutMs: options.urlTimeoutMs,
      maxRedirects: options.urlMaxRedirects,
    });
    this.#routes = routes({
      healthz: async () => ({ status: 200, body: { status: 'ok' } }),
      readyz: async () => this.#readyz(),
      models: async () => ({ status: 200, body: { models: this.#registry.describe(), failed: this.#registry.failed() } }),
      metrics: async () => ({
        status: 200,
        headers: { 'Content-Type': this.#metrics.register.contentType },
        text: await this.#metrics.register.metrics(),
      }),
      predict: createPredictHandlers({ options, registry: this.#registry, metrics: this.#metrics, fetchImage }),
      reload: (ctx, name) => this.#reload(ctx, name),
    });
    this.#http = http.createServer({
      requestTimeout: options.requestTimeoutMs,
      headersTimeout: Math.min(options.requestTimeoutMs, 60000),
      keepAliveTimeout: 5000,
    }, (req, res) => this.#handle(req, res));
  }

  get registry() {
    return this.#registry;
  }

  /** http://host:port once listening. */
  get url() {
    const { address, port } = this.#http.address();
    return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
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
    await this.#binding;
    this.#log.event('info', 'loading models', { url: this.url, models: this.#registry.names.join(','), pid: process.pid });
    try {
      await this.#registry.loadAll({ allowPartial: this.#options.allowPartial, signal: this.#stopLoading.signal });
    } catch (err) {
      // Read before close() below aborts it: was this stop asked for, or caused by the failure?
      const stopped = this.#stopLoading.signal.aborted;
      await this.close();
      if (stopped) return this;
      throw err;
    }
    if (this.#closing) {
      await this.#closing; // the last model loaded as the stop began
      return this;
    }
    if (this.#options.watch) this.#registry.watch(this.#options.watchIntervalMs);
    const failed = this.#registry.failed().map((f) => f.name);
    this.#log.event('info', 'listening', {
      url: this.url, models: this.#registry.loadedNames.join(','), ...(failed.length > 0 && { failed: failed.join(',') }), pid: process.pid,
    });
    return this;
  }

  /**
   * Stops accepting connections, lets requests in flight finish (at most shutdownTimeoutMs, then
   * closes the rest), and unloads the models. Resolves { forced } once everything is closed.
   */
  close(signal) {
    this.#closing ??= this.#drain(signal);
    return this.#closing;
  }

  /** signal: the signal that asked for the stop (logged), if any. */
  async #drain(signal) {
    const loading = this.#binding !== null && !this.#registry.ready;
    this.#stopLoading.abort(new HttpError(serverCodes.NOT_READY, 'the server is shutting down'));
    if (signal) this.#log.event('info', 'stopping', { signal, while: loading ? 'loading' : 'serving' });
    // A port still being bound would start listening after close(): wait for it first.
    await this.#binding?.catch(() => {});
    const wasListening = this.#http.listening;
    const closed = new Promise((resolve) => this.#http.close(() => resolve(false)));
    this.#http.closeIdleConnections();
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve(true), this.#options.shutdownTimeoutMs);
    });
    const forced = wasListening ? await Promise.race([closed, timeout]) : false;
    clearTimeout(timer);
    if (forced) this.#http.closeAllConnections();
    await this.#registry.close();
    this.#log.event(forced ? 'warn' : 'info', 'stopped', { forced });
    return { forced };
  }

  #readyz() {
    if (this.#closing) throw new HttpError(serverCodes.NOT_READY, 'the server is shutting down');
    if (!this.#registry.ready) throw new HttpError(serverCodes.NOT_READY, 'the models are still loading');
    return { status: 200, body: { status: 'ready', models: this.#registry.loadedNames } };
  }

  async #reload(ctx, name) {
    query(ctx.url, []);
    this.#registry.assertKnown(name);
    const before = this.#registry.describe().find((m) => m.name === name);
    try {
      const info = await this.#registry.reload(name);
      Object.assign(ctx.log, { model: name, version: info.version });
      return { status: 200, body: { model: { name, version: info.version }, previous_version: before?.version ?? null, sha256: info.sha256, load_ms: info.load_ms } };
    } catch (err) {
      if (!err.code || err instanceof HttpError) throw err;
      const keeps = before ? `version ${before.version} of "${name}" keeps serving` : `"${name}" is still not served`;
      throw new HttpError(err.code, `${err.message}; ${keeps}`);
    }
  }

  #onLoaded(entry, previous) {
    this.#metrics.modelLoad.set({ model: entry.name }, entry.loadMs / 1000);
    this.#metrics.modelVersion.set({ model: entry.name }, entry.version);
    this.#log.event('info', previous ? 'model reloaded' : 'model loaded', {
      model: entry.name, version: entry.version, sha256: entry.sha256?.slice(0, 12) ?? null, load_ms: Math.round(entry.loadMs),
    });
    const { defaultLabel } = this.#options;
    if (defaultLabel !== undefined && !entry.model.labels.includes(defaultLabel)) {
      this.#log.event('warn', 'the default label is not one of the model\'s labels', { model: entry.name, label: defaultLabel });
    }
  }

  async #handle(req, res) {
    const ctx = { req, started: performance.now(), log: {}, url: null };
    let route = 'unmatched';
    res.once('close', () => this.#record(req, res, ctx, route));
    let answer;
    try {
      if (!req.url.startsWith('/')) throw new HttpError(serverCodes.BAD_REQUEST, 'the request target must be a path');
      ctx.url = new URL(`http://server${req.url}`);
      const match = this.#routes.find((r) => r.pattern.test(ctx.url.pathname));
      if (!match) throw new HttpError(serverCodes.NOT_FOUND, `no route for ${req.method} ${ctx.url.pathname}`);
      route = match.route;
      const handler = match.methods[req.method === 'HEAD' ? 'GET' : req.method];
      if (!handler) {
        const allowed = Object.keys(match.methods).join(', ');
        throw new HttpError(serverCodes.METHOD_NOT_ALLOWED, `${req.method} is not allowed on ${route}; use ${allowed}`, { Allow: allowed });
      }
      const params = match.pattern.exec(ctx.url.pathname).slice(1).map(decodeParam);
      answer = await handler(ctx, ...params);
    } catch (err) {
      answer = toAnswer(err);
      ctx.log.code = answer.body.error.code;
      if (answer.internal) this.#log.event('error', 'internal error', { route, error: err?.stack ?? String(err) });
    }
    this.#send(res, answer);
  }

  #send(res, { status, headers = {}, body, text }) {
    if (res.headersSent || res.destroyed) return;
    const payload = Buffer.from(text ?? `${JSON.stringify(body)}\n`);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
      ...headers,
      'Content-Length': payload.length,
      ...(this.#closing && { Connection: 'close' }),
    });
    res.end(payload);
  }

  #record(req, res, ctx, route) {
    const seconds = (performance.now() - ctx.started) / 1000;
    const labels = { method: req.method, route };
    this.#metrics.requests.inc({ ...labels, status: res.statusCode });
    this.#metrics.latency.observe(labels, seconds);
    this.#log.request({ method: req.method, route, path: ctx.url?.pathname ?? req.url, status: res.statusCode, ...ctx.log, ms: seconds * 1000 });
  }
}

module.exports = { ChoriServer };
