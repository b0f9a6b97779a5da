'use strict';
// A loaded model: validates every argument, then hands the work to the native Classifier,
// which decodes, preprocesses and runs inference off the JavaScript thread.

const path = require('node:path');
const { ChoriError, codes, fromNative } = require('./errors');
const { parseMetadata } = require('./metadata');
const { native } = require('./native');
const optimize = require('./optimize');
const validate = require('./validate');
const { versions } = require('./versions');

// PIL raises DecompressionBombError above twice Image.MAX_IMAGE_PIXELS; we reject where it does.
const DEFAULT_MAX_PIXELS = 2 * 89478485;
const LOAD_OPTIONS = ['threads', 'workers', 'maxPixels', 'precision', 'optimize', 'batch', 'maxBatch', 'maxDelayMs', 'maxQueue', 'device', 'deterministic'];
const PRECISIONS = ['fp32', 'bf16'];
const PREDICT_OPTIONS = ['topk', 'logits'];

class Model {
  #native;
  #metadata;
  #path;
  #info;
  #warnings;

  /** @private Use load(). */
  constructor(nativeModel, metadata, modelPath, info, warnings = []) {
    this.#native = nativeModel;
    this.#metadata = metadata;
    this.#path = modelPath;
    this.#info = Object.freeze(info);
    this.#warnings = Object.freeze(warnings);
  }

  /** How the model runs: the optimisation applied, its cost at load, threads, precision. */
  get info() {
    return this.#info;
  }

  /** What load() found doubtful but not fatal, such as a torch release other than the addon's. */
  get warnings() {
    return this.#warnings;
  }

  get path() {
    return this.#path;
  }

  get metadata() {
    return this.#metadata;
  }

  get labels() {
    return this.#metadata.labels;
  }

  get disposed() {
    return this.#native === null;
  }

  /**
   * Classifies one encoded image. Arguments are checked synchronously (a TypeError is thrown
   * before any work starts); everything else settles the returned Promise.
   */
  predict(image, opts) {
    validate.image(image);
    const { topk, wantLogits } = this.#predictOptions(opts);
    return this.#call((m) => m.predict(image, topk, wantLogits)).then((raw) => this.#prediction(raw, wantLogits));
  }

  /**
   * [height, width] of every model input when the artifact fixes it (a crop or a squashing
   * resize), else null: the size follows the image.
   */
  get inputSize() {
    return optimize.staticInputSize(this.#metadata.input);
  }

  /**
   * Classifies an input already preprocessed: { data: Float32Array, shape: [3, H, W] }, as
   * preprocess() returns it (planar RGB, normalized). Decoding and preprocessing are skipped;
   * [H, W] must be the model's inputSize when it has one. Checked synchronously (TypeError,
   * CHORI_INVALID_ARGUMENT); predict()'s answer.
   */
  predictTensor(tensor, opts) {
    const [height, width] = validate.tensor(tensor, 'tensor');
    const size = this.inputSize;
    if (size && (height !== size[0] || width !== size[1])) {
      throw new ChoriError(codes.INVALID_ARGUMENT,
        `tensor.shape is [3, ${height}, ${width}] but this model takes [3, ${size[0]}, ${size[1]}] (preprocess() makes it from an image)`);
    }
    const { topk, wantLogits } = this.#predictOptions(opts);
    return this.#call((m) => m.predictTensor(tensor.data, height, width, topk, wantLogits)).then((raw) => this.#prediction(raw, wantLogits));
  }

  #predictOptions(opts) {
    const o = validate.options(opts, 'options', PREDICT_OPTIONS);
    const classes = this.labels.length;
    return {
      topk: validate.integerOption(o, 'options', 'topk', 1, classes, Math.min(5, classes)),
      wantLogits: validate.boolOption(o, 'options', 'logits', false),
    };
  }

  #prediction(raw, wantLogits) {
    const labels = this.labels;
    const ranked = raw.topk.map(({ index, score }) => ({ label: labels[index], index, score }));
    const best = ranked[0];
    const prediction = { label: best.label, index: best.index, score: best.score, topk: ranked };
    if (wantLogits) prediction.logits = raw.logits;
    prediction.batchSize = raw.batchSize;
    prediction.timings = raw.timings;
    return prediction;
  }

  /** The exact float32 model input for an image: what torchvision would hand the model. */
  preprocess(image) {
    validate.image(image);
    return this.#call((m) => m.preprocess(image));
  }

  /** Classifies several images; with batching on they share forward passes. */
  predictBatch(images, opts) {
    if (!Array.isArray(images)) throw validate.invalidParameterError('images', 'an array of Buffers', images);
    images.forEach((image, i) => validate.image(image, `images[${i}]`));
    return Promise.all(images.map((image) => this.predict(image, opts)));
  }

  /**
   * Frees the native model. Calls not yet started reject with CHORI_DISPOSED, the batch running
   * completes; resolves once the inference thread has stopped. Idempotent.
   */
  async dispose() {
    const nativeModel = this.#native;
    if (!nativeModel) return;
    this.#native = null;
    await nativeModel.dispose();
  }

  #call(fn) {
    if (!this.#native) return Promise.reject(new ChoriError(codes.DISPOSED, 'the model has been disposed'));
    return fn(this.#native).catch((err) => {
      throw fromNative(err);
    });
  }
}

/** The model predict() uses: $CHORI_TORCH_MODEL, else export/model.pt under the working directory. */
function defaultModelPath() {
  return path.resolve(process.env.CHORI_TORCH_MODEL || path.join('export', 'model.pt'));
}

// Each kind of warning once per process (and per pair of versions), as a Node process warning, so
// NODE_NO_WARNINGS=1 or --no-warnings silences it; model.warnings always lists them.
const warned = new Set();

function emitOnce({ code, message }, metadata) {
  if (code !== 'CHORI_TORCH_VERSION_MISMATCH') return;
  const key = `${metadata.provenance.torch_version}|${versions().libtorch}`;
  if (warned.has(key)) return;
  warned.add(key);
  process.emitWarning(message, { code });
}

/**
 * Loads an artifact written by `chori export`: TorchScript (.pt) or an AOTInductor package (.pt2).
 * The options are checked here, with messages naming the parameter (validate.js); everything else
 * is one native call, load(path, options), which reads the artifact's metadata, loads the model
 * once in its precision and prepares it (addon/src/model/loader.cc: the policy both front ends
 * share).
 */
async function load(modelPath, opts) {
  if (!validate.is.string(modelPath)) throw validate.invalidParameterError('path', 'a non-empty string path', modelPath);
  const o = validate.options(opts, 'options', LOAD_OPTIONS);
  const workers = validate.integerOption(o, 'options', 'workers', 1, 64, undefined);
  const threads = validate.integerOption(o, 'options', 'threads', 1, 1024, undefined);
  const maxPixels = validate.integerOption(o, 'options', 'maxPixels', 1, Number.MAX_SAFE_INTEGER, undefined);
  if (o.precision !== undefined && !PRECISIONS.includes(o.precision)) {
    throw validate.invalidParameterError('options.precision', `one of ${PRECISIONS.join(', ')}`, o.precision);
  }
  const requestedOptimize = o.optimize ?? 'auto';
  if (!optimize.CHOICES.includes(requestedOptimize)) {
    throw validate.invalidParameterError('options.optimize', `one of ${optimize.CHOICES.join(', ')}`, requestedOptimize);
  }
  const device = validate.deviceOption(o, 'options', 'device');
  const deterministic = validate.boolOption(o, 'options', 'deterministic', false);
  if (device !== 'cpu' && !['auto', ...optimize.CUDA_FORMS].includes(requestedOptimize)) {
    throw validate.invalidParameterError('options.optimize', `one of auto, ${optimize.CUDA_FORMS.join(', ')} on ${device} (the other forms are oneDNN CPU passes)`, requestedOptimize);
  }
  const options = {
    workers,
    threads,
    maxPixels,
    precision: o.precision,
    optimize: requestedOptimize,
    maxBatch: validate.integerOption(o, 'options', 'maxBatch', 1, 256, undefined),
    batch: validate.boolOption(o, 'options', 'batch', false),
    maxDelayMs: validate.numberOption(o, 'options', 'maxDelayMs', 0, 1000, undefined),
    maxQueue: validate.integerOption(o, 'options', 'maxQueue', 1, 1 << 20, undefined),
    device,
    deterministic,
  };
  const resolved = path.resolve(modelPath);
  const loaded = await native()
    .load(resolved, options)
    .catch((err) => {
      throw fromNative(err);
    });
  let metadata;
  try {
    metadata = parseMetadata(loaded.model.metadata, resolved);
  } catch (err) {
    await loaded.model.dispose();
    throw err;
  }
  for (const warning of loaded.warnings) emitOnce(warning, metadata);
  return new Model(loaded.model, metadata, resolved, loaded.info, loaded.warnings.map((w) => w.message));
}

module.exports = { Model, load, defaultModelPath, DEFAULT_MAX_PIXELS };
