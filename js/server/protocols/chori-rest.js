'use strict';
// chori-torch's own REST API (docs/openapi.json, docs/SERVING.md): /predict, /models,
// /healthz, /readyz, /metrics and reload. Decodes a request, calls the data plane, encodes its
// answer; failures are { error: { code, message } } with the status below.

const { performance } = require('node:perf_hooks');
const { codes } = require('../../errors');
const { ServerError, serverCodes, badRequest, classify } = require('../core/errors');
const { round } = require('../core/dataplane');
const { readImages } = require('../http/body');
const { hintHeaders } = require('../http/answer');
const { query } = require('../http/query');
const { createGuard, createFetcher } = require('../url-fetch');

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
  [codes.DEVICE]: 500,
  [codes.ADDON_NOT_BUILT]: 500,
  [codes.INTERNAL]: 500,
  [serverCodes.BAD_REQUEST]: 400,
  [serverCodes.URL_INVALID]: 400,
  [serverCodes.URL_DISABLED]: 403,
  [serverCodes.UNAUTHENTICATED]: 401,
  [serverCodes.FORBIDDEN]: 403,
  [serverCodes.URL_FORBIDDEN]: 403,
  [serverCodes.NOT_FOUND]: 404,
  [serverCodes.MODEL_NOT_FOUND]: 404,
  [serverCodes.MODEL_VERSION_NOT_FOUND]: 404,
  [serverCodes.METHOD_NOT_ALLOWED]: 405,
  [serverCodes.BODY_TOO_LARGE]: 413,
  [serverCodes.SELF_CHECK_FAILED]: 422,
  [serverCodes.URL_TOO_LARGE]: 413,
  [serverCodes.URL_FETCH]: 502,
  [serverCodes.NOT_READY]: 503,
  [serverCodes.OVERLOADED]: 503,
  [serverCodes.DEADLINE_EXCEEDED]: 504,
  [serverCodes.URL_TIMEOUT]: 504,
};

/** failure: core/errors.js classify()'s { code, message, hints }. */
function errorAnswer({ code, message, hints }) {
  return { status: STATUS[code] ?? 500, headers: hintHeaders(hints), body: { error: { code, message } } };
}

function parseTopk(value, fallback) {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw badRequest(`topk must be an integer between 1 and 1000, not ${JSON.stringify(value)}`);
  return n;
}

const ranked = ({ label, index, score, topk }) => ({ label, index, score, topk });

function routes({ dataPlane, options }) {
  const fetchImage = createFetcher({
    guard: createGuard({ resolve: options.resolve, allowPrivate: options.allowPrivateUrls }),
    maxBytes: options.urlMaxBytes,
    timeoutMs: options.urlTimeoutMs,
    maxRedirects: options.urlMaxRedirects,
  });

  /** Where the images come from: the body (POST) or ?url= (GET). */
  async function images(ctx, fromUrl) {
    if (!fromUrl) {
      query(ctx.url, ['topk']);
      return readImages(ctx.req, options);
    }
    const { url } = query(ctx.url, ['url', 'topk']);
    if (!options.allowUrl) {
      throw new ServerError(serverCodes.URL_DISABLED, 'fetching images by URL is off; start the server with --allow-url, or POST the image');
    }
    if (!url) throw badRequest('GET predict needs ?url=<image URL>; or POST the image bytes');
    return { images: [await fetchImage(url)], batch: false };
  }

  const answer = (ctx, body, model) => ({
    status: 200,
    body: { ...body, model, latency_ms: round(performance.now() - ctx.started) },
  });

  /** POST (body) or GET (?url=) on /predict and /models/:name/predict. */
  async function predict(ctx, name = dataPlane.defaultName, fromUrl = false) {
    dataPlane.registry.assertKnown(name); // before the body is read
    const input = await images(ctx, fromUrl);
    const topk = parseTopk(input.topk ?? ctx.url.searchParams.get('topk') ?? undefined, options.topk);
    if (input.batch) ctx.log.batch = input.images.length;
    const result = await dataPlane.infer(name, input.images, { topk, started: ctx.started });
    Object.assign(ctx.log, { model: result.model.name, version: result.model.version });
    if (result.defaulted) {
      ctx.log.label = result.label;
      ctx.log.default = true;
      const body = input.batch
        ? { predictions: input.images.map(() => ({ label: result.label, default: true })), default: true }
        : { label: result.label, default: true };
      return answer(ctx, body, result.model);
    }
    const { outcomes } = result;
    const shape = (o) => (o.status === 'fulfilled' ? ranked(o.value) : { error: errorAnswer(classify(o.reason)).body.error });
    if (input.batch) return answer(ctx, { predictions: outcomes.map(shape) }, result.model);
    if (outcomes[0].status === 'rejected') throw outcomes[0].reason;
    ctx.log.label = outcomes[0].value.label;
    return answer(ctx, ranked(outcomes[0].value), result.model);
  }

  async function reload(ctx, name) {
    query(ctx.url, []);
    const info = await dataPlane.reload(name);
    Object.assign(ctx.log, { model: name, version: info.version });
    return {
      status: 200,
      body: { model: { name, version: info.version }, previous_version: info.previousVersion, sha256: info.sha256, load_ms: info.loadMs },
    };
  }

  function readyz() {
    dataPlane.assertReady();
    return { status: 200, body: { status: 'ready', models: dataPlane.loadedNames } };
  }

  async function metrics() {
    const { contentType, text } = await dataPlane.metricsText();
    return { status: 200, headers: { 'Content-Type': contentType }, text };
  }

  return [
    { route: '/healthz', pattern: /^\/healthz$/, access: 'public', methods: { GET: () => ({ status: 200, body: { status: 'ok' } }) } },
    { route: '/readyz', pattern: /^\/readyz$/, access: 'public', methods: { GET: readyz } },
    { route: '/models', pattern: /^\/models$/, access: 'inference', methods: { GET: () => ({ status: 200, body: { models: dataPlane.models(), failed: dataPlane.failed() } }) } },
    { route: '/metrics', pattern: /^\/metrics$/, access: options.protectMetrics ? 'inference' : 'public', methods: { GET: metrics } },
    { route: '/predict', pattern: /^\/predict$/, access: 'inference', methods: { POST: (ctx) => predict(ctx), GET: (ctx) => predict(ctx, undefined, true) } },
    {
      route: '/models/:name/predict', pattern: /^\/models\/([^/]+)\/predict$/, access: 'inference',
      methods: { POST: (ctx, name) => predict(ctx, name), GET: (ctx, name) => predict(ctx, name, true) },
    },
    { route: '/models/:name/reload', pattern: /^\/models\/([^/]+)\/reload$/, access: 'management', methods: { POST: reload } },
  ];
}

module.exports = { name: 'chori-rest', routes, errorAnswer, STATUS };
