'use strict';
// The protocol-neutral data plane (KServe's protocol/dataplane.py): the served models, readiness,
// admission (the per-model in-flight limit), the latency objective (--slo-ms / --default-label,
// as Clipper's slo_micros / default_output), prediction and metrics. It knows no HTTP and no
// gRPC: it takes decoded inputs, returns plain results and throws CHORI_* errors
// (core/errors.js); each protocol adapter (js/server/protocols/) decodes, calls it and encodes.

const { performance } = require('node:perf_hooks');
const { load } = require('../../model');
const { ServerError, serverCodes, badRequest } = require('./errors');
const { createMetrics } = require('./metrics');
const { ModelRegistry, round } = require('./registry');
const { SelfChecks } = require('./self-check');

const TIMED_OUT = Symbol('timed out');
const MAX_TOPK = 1000;

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

class DataPlane {
  #options;
  #registry;
  #metrics;
  #log;
  #draining = false;
  #selfChecks;

  /** options: normalized (options.js); log: core/log.js's logger. */
  constructor(options, log) {
    this.#options = options;
    this.#log = log;
    this.#registry = new ModelRegistry({
      models: options.models,
      load,
      loadOptions: {
        maxPixels: options.maxPixels,
        threads: options.threads,
        workers: options.workers,
        batch: options.batch,
        optimize: options.optimize,
        device: options.device,
        deterministic: options.deterministic,
      },
      maxQueue: options.maxQueue,
      // A reload whose new version fails the golden set that the serving one passed is refused.
      vet: (entry, previous) => this.#selfChecks.vet(entry, previous),
    });
    this.#metrics = createMetrics(this.#registry);
    // Before the 'loaded' listener below: the check has started when the model is logged as loaded.
    this.#selfChecks = new SelfChecks({ policy: options.verify, models: options.models, registry: this.#registry, register: this.#metrics.register, log });
    this.#registry.on('loaded', (entry, previous) => this.#onLoaded(entry, previous));
    this.#registry.on('load-failed', (name, err) =>
      log.event(options.allowPartial ? 'warn' : 'error', 'model failed to load', { model: name, code: err.code ?? 'CHORI_INTERNAL', error: err.message }));
    this.#registry.on('reload-failed', (name, err) =>
      log.event('error', 'reload failed', { model: name, code: err.code ?? 'CHORI_INTERNAL', error: err.message }));
  }

  get registry() {
    return this.#registry;
  }

  get metrics() {
    return this.#metrics;
  }

  /** The model /predict and an unnamed request mean: the first one given. */
  get defaultName() {
    return this.#registry.defaultName;
  }

  /** True once every model loaded (or failed to, with allowPartial) and until draining starts. */
  get ready() {
    return !this.#draining && this.#registry.ready && this.#selfCheckBlocker() === null;
  }

  /** Resolves once the golden-set self-check of every version loaded so far is done. */
  selfChecked() {
    return this.#selfChecks.settled();
  }

  /** Why a loaded model may not serve yet (its self-check: running, or failed), or null. */
  #selfCheckBlocker() {
    for (const name of this.#registry.loadedNames) {
      const why = this.#selfChecks.blocker(name);
      if (why) return why;
    }
    return null;
  }

  /** True from the moment a stop begins (drain()). */
  get draining() {
    return this.#draining;
  }

  /** Throws CHORI_NOT_READY, saying why, unless ready. */
  assertReady() {
    if (this.#draining) throw new ServerError(serverCodes.NOT_READY, 'the server is shutting down');
    if (!this.#registry.ready) throw new ServerError(serverCodes.NOT_READY, 'the models are still loading');
    const blocked = this.#selfCheckBlocker();
    if (blocked) throw new ServerError(serverCodes.NOT_READY, blocked);
  }

  /** From now on not ready: a stop has begun. Requests already admitted finish. */
  drain() {
    this.#draining = true;
  }

  /** Every model with a version serving: what GET /models lists. */
  models() {
    return this.#registry.describe().map((m) => ({ ...m, self_check: this.#selfChecks.describe(m.name) }));
  }

  /** The models that failed to load at start: [{ name, error: { code, message } }]. */
  failed() {
    return this.#registry.failed();
  }

  get loadedNames() {
    return this.#registry.loadedNames;
  }

  /** One model's description; CHORI_MODEL_NOT_FOUND if unknown, CHORI_NOT_READY if not serving. */
  model(name) {
    this.#registry.assertKnown(name);
    const info = this.models().find((m) => m.name === name);
    if (!info) throw new ServerError(serverCodes.NOT_READY, `model "${name}" is not loaded`);
    return info;
  }

  /** Whether `name` serves now (a version is loaded and the server is not draining). */
  modelReady(name) {
    this.#registry.assertKnown(name);
    return !this.#draining && this.#registry.loadedNames.includes(name) && this.#selfChecks.blocker(name) === null;
  }

  /** The Prometheus exposition: { contentType, text }. */
  async metricsText() {
    return { contentType: this.#metrics.register.contentType, text: await this.#metrics.register.metrics() };
  }

  /**
   * What a protocol needs to describe model `name` (CHORI_MODEL_NOT_FOUND, CHORI_NOT_READY):
   * { name, version, labels, outputKind ('logits' | 'probabilities'), numClasses, inputSize
   * ([H, W] or null when it follows the image), format ('torchscript' | 'pt2') }.
   */
  spec(name) {
    this.#registry.assertKnown(name);
    const entry = this.#registry.current(name);
    if (!entry) throw new ServerError(serverCodes.NOT_READY, `model "${name}" is not loaded`);
    const { model } = entry;
    return {
      name,
      version: entry.version,
      labels: model.labels,
      outputKind: model.metadata.output.kind,
      numClasses: model.metadata.output.numClasses,
      inputSize: model.inputSize,
      format: model.info.format,
    };
  }

  /**
   * Classifies `inputs` with model `name`: each an encoded image (a Buffer) or an input already
   * preprocessed ({ data: Float32Array, shape: [3, H, W] }, Model.predictTensor).
   * opts: { topk (1…1000, cut to the model's labels), logits, started: performance.now() when the
   * request arrived (the --slo-ms deadline counts from it) }.
   * Resolves { model: { name, version }, defaulted: false, outcomes: PromiseSettledResult[] }
   * (one per image; a rejected one is that image's error), or, past the latency objective with a
   * --default-label, { model, defaulted: true, label }. Throws CHORI_MODEL_NOT_FOUND,
   * CHORI_NOT_READY, CHORI_OVERLOADED (in-flight limit), CHORI_DEADLINE_EXCEEDED (objective
   * passed, no default label), CHORI_BAD_REQUEST (topk).
   */
  async infer(name, inputs, { topk = this.#options.topk, logits = false, started = performance.now() } = {}) {
    this.#registry.assertKnown(name);
    if (!Number.isInteger(topk) || topk < 1 || topk > MAX_TOPK) {
      throw badRequest(`topk must be an integer between 1 and ${MAX_TOPK}, not ${JSON.stringify(topk)}`);
    }
    const { sloMs } = this.#options;
    const deadline = sloMs === undefined ? undefined : started + sloMs;
    const lease = this.#registry.acquire(name, inputs.length);
    const model = { name, version: lease.version };
    this.#metrics.batchSize.observe({ model: name }, inputs.length);
    if (deadline !== undefined && performance.now() >= deadline) {
      lease.release();
      return this.#answerDefault(model, inputs.length);
    }
    const opts = { topk: Math.min(topk, lease.model.labels.length), logits };
    const run = (input) => (input instanceof Uint8Array ? lease.model.predict(input, opts) : lease.model.predictTensor(input, opts));
    const work = Promise.allSettled(inputs.map((input) => attempt(() => run(input))));
    // The lease (the in-flight slot) is held until the model is done, even past the deadline.
    work.finally(lease.release);
    work.then((results) => {
      for (const r of results) if (r.status === 'fulfilled') this.#metrics.forwardBatchSize.observe({ model: name }, r.value.batchSize);
    });
    const outcomes = await beforeDeadline(work, deadline);
    this.#metrics.inferenceLatency.observe({ model: name }, (performance.now() - started) / 1000);
    if (outcomes === TIMED_OUT) return this.#answerDefault(model, inputs.length);
    for (const o of outcomes) this.#metrics.predictions.inc({ model: name, outcome: o.status === 'fulfilled' ? 'ok' : 'error' });
    return { model, defaulted: false, outcomes };
  }

  /**
   * Loads `name`'s file again and swaps it in. Resolves { name, version, previousVersion, sha256,
   * loadMs }; a failure keeps the old version serving and says so.
   */
  async reload(name) {
    this.#registry.assertKnown(name);
    const before = this.models().find((m) => m.name === name);
    try {
      const info = await this.#registry.reload(name);
      return { name, version: info.version, previousVersion: before?.version ?? null, sha256: info.sha256, loadMs: info.load_ms };
    } catch (err) {
      if (!err.code || err instanceof ServerError) throw err;
      const keeps = before ? `version ${before.version} of "${name}" keeps serving` : `"${name}" is still not served`;
      throw new ServerError(err.code, `${err.message}; ${keeps}`);
    }
  }

  #answerDefault(model, count) {
    const { defaultLabel, sloMs } = this.#options;
    const outcome = defaultLabel === undefined ? 'deadline' : 'default';
    this.#metrics.predictions.inc({ model: model.name, outcome }, count);
    if (outcome === 'deadline') {
      throw new ServerError(serverCodes.DEADLINE_EXCEEDED, `no prediction within the ${sloMs} ms objective and no --default-label to answer instead`);
    }
    return { model, defaulted: true, label: defaultLabel };
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
}

module.exports = { DataPlane, round };
