'use strict';
// The prediction handlers: where the images come from (body or ?url=), admission (the
// per-model in-flight limit), the latency objective (--slo-ms / --default-label, as Clipper's
// slo_micros / default_output), and the shape of the answer.

const { performance } = require('node:perf_hooks');
const { HttpError, serverCodes, toAnswer } = require('./errors');
const { readImages } = require('./body');
const { round } = require('./registry');

const TIMED_OUT = Symbol('timed out');
const badRequest = (message) => new HttpError(serverCodes.BAD_REQUEST, message);

/** Query parameters, refusing unknown or repeated ones. */
function query(url, allowed) {
  const params = {};
  for (const [key, value] of url.searchParams) {
    if (!allowed.includes(key)) throw badRequest(`unknown query parameter "${key}"; this endpoint takes ${allowed.join(', ') || 'none'}`);
    if (key in params) throw badRequest(`query parameter "${key}" is given twice`);
    params[key] = value;
  }
  return params;
}

function parseTopk(value, fallback) {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw badRequest(`topk must be an integer between 1 and 1000, not ${JSON.stringify(value)}`);
  return n;
}

/** Settles with `promise`'s value, or TIMED_OUT at `deadline` (a performance.now() time). */
function beforeDeadline(promise, deadline) {
  if (deadline === undefined) return promise;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadline - performance.now()));
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

/** Runs `fn` and turns a synchronous throw into a rejection. */
const attempt = (fn) => new Promise((resolve) => resolve(fn()));

function createPredictHandlers({ options, registry, metrics, fetchImage }) {
  const { defaultLabel, sloMs } = options;

  async function images(ctx, fromUrl) {
    if (!fromUrl) {
      query(ctx.url, ['topk']);
      return readImages(ctx.req, options);
    }
    const { url } = query(ctx.url, ['url', 'topk']);
    if (!options.allowUrl) {
      throw new HttpError(serverCodes.URL_DISABLED, 'fetching images by URL is off; start the server with --allow-url, or POST the image');
    }
    if (!url) throw badRequest('GET predict needs ?url=<image URL>; or POST the image bytes');
    return { images: [await fetchImage(url)], batch: false };
  }

  function answerDefault(ctx, input, model) {
    const outcome = defaultLabel === undefined ? 'deadline' : 'default';
    metrics.predictions.inc({ model: model.name, outcome }, input.images.length);
    if (outcome === 'deadline') {
      throw new HttpError(serverCodes.DEADLINE_EXCEEDED, `no prediction within the ${sloMs} ms objective and no --default-label to answer instead`);
    }
    ctx.log.label = defaultLabel;
    ctx.log.default = true;
    const body = input.batch
      ? { predictions: input.images.map(() => ({ label: defaultLabel, default: true })), default: true }
      : { label: defaultLabel, default: true };
    return answer(ctx, body, model);
  }

  function answer(ctx, body, model) {
    return { status: 200, body: { ...body, model: { name: model.name, version: model.version }, latency_ms: round(performance.now() - ctx.started) } };
  }

  /** POST (body) or GET (?url=) on /predict and /models/:name/predict. */
  return async function predict(ctx, name = registry.defaultName, fromUrl = false) {
    registry.assertKnown(name);
    const deadline = sloMs === undefined ? undefined : ctx.started + sloMs;
    const input = await images(ctx, fromUrl);
    const queryTopk = ctx.url.searchParams.get('topk') ?? undefined;
    const topk = parseTopk(input.topk ?? queryTopk, options.topk);
    if (input.batch) ctx.log.batch = input.images.length;

    const lease = registry.acquire(name, input.images.length);
    const model = { name, version: lease.version };
    Object.assign(ctx.log, { model: name, version: lease.version });
    metrics.batchSize.observe({ model: name }, input.images.length);
    if (deadline !== undefined && performance.now() >= deadline) {
      lease.release();
      return answerDefault(ctx, input, model);
    }
    const k = Math.min(topk, lease.model.labels.length);
    const work = Promise.allSettled(input.images.map((image) => attempt(() => lease.model.predict(image, { topk: k }))));
    // The lease (the in-flight slot) is held until the model is done, even past the deadline.
    work.finally(lease.release);
    work.then((results) => {
      for (const r of results) if (r.status === 'fulfilled') metrics.forwardBatchSize.observe({ model: name }, r.value.batchSize);
    });

    const outcomes = await beforeDeadline(work, deadline);
    if (outcomes === TIMED_OUT) return answerDefault(ctx, input, model);
    for (const o of outcomes) metrics.predictions.inc({ model: name, outcome: o.status === 'fulfilled' ? 'ok' : 'error' });

    const shape = (o) => (o.status === 'fulfilled' ? ranked(o.value) : { error: toAnswer(o.reason).body.error });
    if (input.batch) return answer(ctx, { predictions: outcomes.map(shape) }, model);
    if (outcomes[0].status === 'rejected') throw outcomes[0].reason;
    ctx.log.label = outcomes[0].value.label;
    return answer(ctx, ranked(outcomes[0].value), model);
  };
}

const ranked = ({ label, index, score, topk }) => ({ label, index, score, topk });

module.exports = { createPredictHandlers, query };
