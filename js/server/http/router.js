'use strict';
// The HTTP transport's dispatcher: one table of routes mounted from the protocol modules
// (js/server/protocols/), a log line and metrics per request, and each failure answered in the
// format of the protocol that owns the path.
//
// A protocol module exports { name, prefix?, routes(deps) → Route[], errorAnswer(err) → answer }.
// Route: { route (the template, a metrics label), pattern (RegExp; its groups are the
// percent-decoded parameters), methods: { METHOD: handler(ctx, ...params) → answer },
// access: 'public' | 'inference' | 'management' }. HEAD is answered as GET.
// ctx: { req, url, started (performance.now()), log (fields for the request's log line), route }.
// A request whose path matches no route is answered by the protocol whose `prefix` it starts
// with, else by the first protocol mounted.

const { performance } = require('node:perf_hooks');
const { ServerError, serverCodes, classify } = require('../core/errors');
const { send } = require('./answer');

const ACCESS = ['public', 'inference', 'management'];

function decodeParam(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ServerError(serverCodes.BAD_REQUEST, `malformed percent-encoding in ${JSON.stringify(text)}`);
  }
}

class Router {
  #routes = [];
  #protocols = [];
  #metrics;
  #log;
  #isClosing;
  #authorize;

  /**
   * metrics, log: core/metrics.js and core/log.js's; isClosing() → boolean (answers then say
   * Connection: close); authorize(ctx, route): may throw (a ServerError) to refuse a request
   * before its handler runs, by route.access (none: everything is allowed).
   */
  constructor({ metrics, log, isClosing = () => false, authorize = () => {} }) {
    this.#metrics = metrics;
    this.#log = log;
    this.#isClosing = isClosing;
    this.#authorize = authorize;
  }

  /** Adds a protocol module's routes; deps are handed to its routes(). */
  mount(protocol, deps) {
    this.#protocols.push(protocol);
    for (const route of protocol.routes(deps)) {
      if (!ACCESS.includes(route.access)) throw new TypeError(`route ${route.route} of ${protocol.name}: access must be one of ${ACCESS.join(', ')}`);
      this.#routes.push({ ...route, protocol });
    }
    return this;
  }

  /** Every route mounted, in match order: [{ route, methods: ['GET', …], access, protocol }]. */
  get routes() {
    return this.#routes.map((r) => ({ route: r.route, methods: Object.keys(r.methods), access: r.access, protocol: r.protocol.name }));
  }

  /** The request listener for http(s).createServer. */
  handle = async (req, res) => {
    const ctx = { req, started: performance.now(), log: {}, url: null, route: null };
    let label = 'unmatched';
    let protocol = this.#protocols[0];
    res.once('close', () => this.#record(req, res, ctx, label));
    let answer;
    try {
      if (!req.url.startsWith('/')) throw new ServerError(serverCodes.BAD_REQUEST, 'the request target must be a path');
      ctx.url = new URL(`http://server${req.url}`);
      const path = ctx.url.pathname;
      const match = this.#routes.find((r) => r.pattern.test(path));
      if (!match) {
        protocol = this.#protocols.find((p) => p.prefix && (path === p.prefix || path.startsWith(`${p.prefix}/`))) ?? protocol;
        throw new ServerError(serverCodes.NOT_FOUND, `no route for ${req.method} ${path}`);
      }
      ({ protocol } = match);
      label = match.route;
      ctx.route = match;
      const handler = match.methods[req.method === 'HEAD' ? 'GET' : req.method];
      if (!handler) {
        const allowed = Object.keys(match.methods).join(', ');
        throw new ServerError(serverCodes.METHOD_NOT_ALLOWED, `${req.method} is not allowed on ${label}; use ${allowed}`, { allow: allowed });
      }
      await this.#authorize(ctx, match);
      const params = match.pattern.exec(path).slice(1).map((p) => (p === undefined ? undefined : decodeParam(p)));
      answer = await handler(ctx, ...params);
    } catch (err) {
      const failure = classify(err);
      ctx.log.code = failure.code;
      if (failure.internal) this.#log.event('error', 'internal error', { route: label, error: err?.stack ?? String(err) });
      answer = protocol.errorAnswer(failure);
    }
    send(res, answer, { closing: this.#isClosing() });
  };

  #record(req, res, ctx, route) {
    const seconds = (performance.now() - ctx.started) / 1000;
    const labels = { method: req.method, route };
    this.#metrics.requests.inc({ ...labels, status: res.statusCode });
    this.#metrics.latency.observe(labels, seconds);
    if (ctx.log.code) this.#metrics.rejections.inc({ route, status: res.statusCode, code: ctx.log.code });
    this.#log.request({ method: req.method, route, path: ctx.url?.pathname ?? req.url, status: res.statusCode, ...ctx.log, ms: seconds * 1000 });
  }
}

module.exports = { Router, ACCESS };
