'use strict';
// A loaded model: validates every argument, then hands the work to the native Classifier,
// which decodes, preprocesses and runs inference off the JavaScript thread.

const path = require('node:path');
const os = require('node:os');
const { ChoriError, codes, fromNative } = require('./errors');
const { parseMetadata, nativeSpec } = require('./metadata');
const { native } = require('./native');
const adaptive = require('./adaptive');
const optimize = require('./optimize');
const validate = require('./validate');
const { torchMismatch, torchRelease, versions } = require('./versions');

// PIL raises DecompressionBombError above twice Image.MAX_IMAGE_PIXELS; we reject where it does.
const DEFAULT_MAX_PIXELS = 2 * 89478485;
const LOAD_OPTIONS = ['threads', 'workers', 'maxPixels', 'precision', 'optimize', 'batch', 'maxBatch', 'maxDelayMs', 'maxQueue', 'device', 'deterministic'];
const PRECISIONS = ['fp32', 'bf16'];
const DEFAULT_MAX_BATCH = 8;
// A GPU's forward costs about the same for 1 or 32 small images, so batches gather more there.
// Chosen, not measured: no GPU was at hand (tests/gpu/run.sh prints the curve to choose by).
const DEFAULT_CUDA_MAX_BATCH = 32;
const DEFAULT_MAX_DELAY_MS = 5;
const DEFAULT_MAX_QUEUE = 1024;
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

/**
 * A .pt2 package is compiled: no load-time passes apply ('auto' means none), and its kernels
 * were built against one libtorch, so another release is refused rather than warned about.
 */
function checkPackage(metadata, requestedOptimize, resolved) {
  if (requestedOptimize !== 'auto' && requestedOptimize !== 'none') {
    throw new ChoriError(codes.INVALID_ARGUMENT,
      `options.optimize '${requestedOptimize}' does not apply to ${resolved}: a .pt2 package is optimised when it is compiled (use 'auto' or 'none')`);
  }
  const exported = metadata.provenance.torch_version;
  const linked = versions().libtorch;
  if (typeof exported === 'string' && torchRelease(exported) !== torchRelease(linked)) {
    throw new ChoriError(codes.MODEL_LOAD,
      `${resolved} was compiled with torch ${exported} and chori-torch's addon runs libtorch ${linked}: a .pt2 package only runs on the torch release it was compiled with (export it again with torch ${torchRelease(linked)})`);
  }
}

/** precision 'bf16' on a CPU that does not compute in it: allowed, but slower than fp32. */
function bf16Emulated(precision, device) {
  if (precision !== 'bf16' || device !== 'cpu' || native().versions().nativeBf16) return [];
  return ["precision 'bf16' on a CPU without AVX512_BF16 or AMX: bfloat16 is emulated here and runs slower than fp32 (load with precision: 'fp32')"];
}

/** Loads an artifact written by `chori export`: TorchScript (.pt) or an AOTInductor package (.pt2). */
async function load(modelPath, opts) {
  if (!validate.is.string(modelPath)) throw validate.invalidParameterError('path', 'a non-empty string path', modelPath);
  const o = validate.options(opts, 'options', LOAD_OPTIONS);
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const workers = validate.integerOption(o, 'options', 'workers', 1, 64, 1);
  // Several workers share the cores: by default each gets its part of them.
  const threads = validate.integerOption(o, 'options', 'threads', 1, 1024, Math.max(1, Math.floor(cores / workers)));
  // Neither named: the parallelism is load()'s to choose (adaptive.js).
  const scheduled = !validate.is.defined(o.workers) && !validate.is.defined(o.threads);
  const maxPixels = validate.integerOption(o, 'options', 'maxPixels', 1, Number.MAX_SAFE_INTEGER, DEFAULT_MAX_PIXELS);
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
  const maxBatch = validate.integerOption(o, 'options', 'maxBatch', 1, 256, device === 'cpu' ? DEFAULT_MAX_BATCH : DEFAULT_CUDA_MAX_BATCH);
  const batching = {
    // Off by default: oneDNN picks kernels by batch size, so a batched row differs from the
    // batch-1 answer (and the golden set) in the last bits; it buys throughput under
    // concurrency (docs/ARCHITECTURE.md, "Batching").
    maxBatch: validate.boolOption(o, 'options', 'batch', false) ? maxBatch : 1,
    maxDelayMs: validate.numberOption(o, 'options', 'maxDelayMs', 0, 1000, DEFAULT_MAX_DELAY_MS),
    maxQueue: validate.integerOption(o, 'options', 'maxQueue', 1, 1 << 20, DEFAULT_MAX_QUEUE),
    workers,
  };
  const resolved = path.resolve(modelPath);
  const loadNative = (precision) =>
    native()
      .load(resolved, threads, precision, workers, device, deterministic)
      .catch((err) => {
        throw fromNative(err);
      });
  let precision = o.precision ?? 'fp32';
  let nativeModel = await loadNative(precision);
  let metadata;
  let info;
  try {
    metadata = parseMetadata(nativeModel.metadata, resolved);
    // The artifact's own precision (chori export --precision) when the caller names none. The
    // metadata is only known once loaded, and the conversion is a load option, hence the reload.
    if (o.precision === undefined && metadata.precision !== 'fp32') {
      precision = metadata.precision;
      const first = nativeModel;
      nativeModel = null;
      await first.dispose();
      nativeModel = await loadNative(precision);
    }
    const format = nativeModel.format;
    if (format === 'pt2') checkPackage(metadata, requestedOptimize, resolved);
    const form = format === 'pt2' ? 'none' : optimize.resolveOptimize(requestedOptimize, metadata.input, device);
    const shape = optimize.warmupShape(metadata.input);
    const run = adaptive.parallelism({ format, form, device, cores, scheduled, fixed: { workers, threads } });
    // configure() starts the inference threads, on one of which optimize() then prepares the module.
    nativeModel.configure({
      ...nativeSpec(metadata, maxPixels),
      ...batching,
      workers: run.workers,
      adaptiveCores: run.adaptiveCores,
      forwardThreads: run.forwardThreads,
    });
    const report = await nativeModel.optimize(form, shape, shape ? optimize.WARMUP_RUNS : 0).catch((err) => {
      throw fromNative(err);
    });
    info = {
      format,
      optimize: form,
      requestedOptimize,
      warmupRuns: shape ? optimize.WARMUP_RUNS : 0,
      optimizeMs: report.optimizeMs,
      warmupMs: report.warmupMs,
      threads: run.threads,
      workers: run.workers,
      adaptive: run.adaptiveCores > 0,
      precision,
      maxBatch: batching.maxBatch,
      device,
      deterministic,
    };
  } catch (err) {
    await nativeModel?.dispose();
    throw err;
  }
  return new Model(nativeModel, metadata, resolved, info, [...torchMismatch(metadata, resolved), ...bf16Emulated(precision, device)]);
}

module.exports = { Model, load, defaultModelPath, DEFAULT_MAX_PIXELS };
