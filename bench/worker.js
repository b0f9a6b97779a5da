'use strict';
// One Node runtime under benchmark, in its own process (so its peak RSS is its own), driven by
// bench/run.js over stdin/stdout (bench/lib.js serveCommands):
//
//   node bench/worker.js --runtime chori|chori-batch|chori-bf16|chori-none|chori-pt2|chori-workers|ort-sharp --model NAME --threads N
//
// chori        require('chori-torch').load(artifact)   (the defaults: optimize 'auto', batching off,
//              adaptive parallelism: every core for a lone forward, one forward per core under load)
// chori-batch  { threads, batch: true }
// chori-bf16   the defaults with { precision: 'bf16' }
// chori-none   { threads, optimize: 'none' }: the artifact as saved
// chori-pt2    the defaults on the model's .pt2 package (bench/prepare.py), when it has one
// chori-workers { workers: N, threads: 1 }: N forwards at once instead of one N-threaded forward
// ort-sharp    what a Node user assembles today: sharp resizes the shorter side and decodes to
//              raw RGB, JS centre-crops and normalises into a Float32Array, onnxruntime-node runs
//              the ONNX export of the same weights (InferenceSession.run), JS does softmax + top-k.

const path = require('node:path');
const { parseArgs } = require('node:util');
const lib = require('./lib');

const { values: args } = parseArgs({
  options: {
    runtime: { type: 'string' },
    model: { type: 'string' },
    threads: { type: 'string' },
  },
});
const THREADS = Number(args.threads);
const TOPK = 5;

const CHORI_OPTIONS = {
  chori: {},
  'chori-batch': { batch: true, threads: THREADS },
  'chori-bf16': { precision: 'bf16' },
  'chori-none': { optimize: 'none', threads: THREADS },
  'chori-pt2': {},
  // As many inference threads as intra-op threads would have been, one thread each.
  'chori-workers': { workers: THREADS, threads: 1 },
};

async function chori(modelPath, options) {
  const chori = require(lib.ROOT);
  const model = await chori.load(modelPath, options);
  const topk = Math.min(TOPK, model.labels.length);
  return {
    versions: { 'chori-torch': chori.version, simd: chori.simd().active },
    info: model.info,
    predict: async (bytes) => (await model.predict(bytes, { topk })).label,
    forwardMs: async (bytes) => {
      const p = await model.predict(bytes, { topk });
      return p.timings.inferenceMs;
    },
    preprocess: (bytes) => model.preprocess(bytes),
  };
}

// sharp kernels for the artifact's (PIL) interpolation; PIL's bilinear is sharp's 'linear'.
const SHARP_KERNEL = { nearest: 'nearest', bilinear: 'linear', bicubic: 'cubic', lanczos: 'lanczos3' };

async function ortSharp(name) {
  const deps = path.join(lib.WORK, 'node_modules');
  const ort = require(path.join(deps, 'onnxruntime-node'));
  const sharp = require(path.join(deps, 'sharp'));
  // The benchmark repeats the same images; libvips' operation cache would turn repeats into
  // cache hits, which a server seeing new images never gets.
  sharp.cache(false);
  const meta = require(path.join(lib.WORK, `${name}.json`));
  const { resize, crop, mean, std, interpolation } = meta.input;
  const labels = meta.labels;
  const [cropH, cropW] = crop;
  const kernel = SHARP_KERNEL[interpolation] || 'lanczos3';
  const session = await ort.InferenceSession.create(path.join(lib.WORK, `${name}.onnx`), {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });

  async function preprocess(bytes) {
    let pipeline = sharp(bytes).removeAlpha().toColourspace('srgb');
    if (resize && resize.length === 1) {
      pipeline = pipeline.resize({ width: resize[0], height: resize[0], fit: 'outside', kernel });
    } else if (resize) {
      pipeline = pipeline.resize({ width: resize[1], height: resize[0], fit: 'fill', kernel });
    }
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    const { width, height, channels } = info;
    // torchvision CenterCrop: top = round((H - h) / 2), left = round((W - w) / 2)
    const top = Math.round((height - cropH) / 2);
    const left = Math.round((width - cropW) / 2);
    const out = new Float32Array(3 * cropH * cropW);
    const plane = cropH * cropW;
    for (let c = 0; c < 3; c++) {
      const scale = 1 / (255 * std[c]);
      const shift = mean[c] / std[c];
      const src = channels >= 3 ? c : 0;
      for (let y = 0; y < cropH; y++) {
        let i = ((top + y) * width + left) * channels + src;
        let o = c * plane + y * cropW;
        for (let x = 0; x < cropW; x++, i += channels) out[o++] = data[i] * scale - shift;
      }
    }
    return { data: out, shape: [3, cropH, cropW] };
  }

  const run = async (tensor) => {
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', tensor.data, [1, ...tensor.shape]) };
    const out = await session.run(feeds);
    return out[session.outputNames[0]].data;
  };

  return {
    versions: { 'onnxruntime-node': ort.env.versions.node, sharp: sharp.versions.sharp, libvips: sharp.versions.vips },
    predict: async (bytes) => labels[lib.rankLogits(await run(await preprocess(bytes)), TOPK)[0].index],
    forwardMs: async (bytes) => {
      const tensor = await preprocess(bytes);
      const start = performance.now();
      lib.rankLogits(await run(tensor), TOPK);
      return performance.now() - start;
    },
    preprocess,
    // One libvips thread per image, like the single-threaded preprocessing of the others.
    singleThreaded: (on) => sharp.concurrency(on ? 1 : 0),
  };
}

async function main() {
  const modelPath = args.runtime === 'chori-pt2' ? lib.pt2Paths()[args.model] : lib.modelPaths()[args.model];
  const corpus = lib.loadCorpus();
  const loadStart = performance.now();
  const runtime =
    args.runtime === 'ort-sharp' ? await ortSharp(args.model) : await chori(modelPath, CHORI_OPTIONS[args.runtime]);
  const loadMs = performance.now() - loadStart;
  const defaultConcurrency = args.runtime === 'ort-sharp' ? require(path.join(lib.WORK, 'node_modules', 'sharp')).concurrency() : null;

  lib.serveCommands({
    hello: async () => ({
      loadMs,
      info: runtime.info,
      versions: { node: process.versions.node, ...runtime.versions },
      uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE) || 4,
      sharpConcurrency: defaultConcurrency,
      peakRssMiB: lib.peakRssMiB(),
    }),
    top1: async () => {
      const labels = [];
      for (const image of corpus) labels.push(await runtime.predict(image.bytes));
      return { labels };
    },
    throughput: async ({ concurrency, warmupMs, durationMs }) => {
      const result = await lib.closedLoop({
        concurrency,
        warmupMs,
        durationMs,
        corpusSize: corpus.length,
        call: (i) => runtime.predict(corpus[i].bytes),
      });
      return { ...result, peakRssMiB: lib.peakRssMiB() };
    },
    // Sequential (batch 1, one call at a time): the forward time of each image, in corpus order.
    forward: async ({ rounds }) => {
      const ms = [];
      for (let r = 0; r < rounds; r++) for (const image of corpus) ms.push(await runtime.forwardMs(image.bytes));
      return { ms };
    },
    // Sequential, one image at a time: bytes → model input tensor, per image in corpus order.
    preprocess: async ({ rounds }) => {
      if (runtime.singleThreaded) runtime.singleThreaded(true);
      const ms = [];
      for (let r = 0; r < rounds; r++) {
        for (const image of corpus) {
          const start = performance.now();
          await runtime.preprocess(image.bytes);
          ms.push(performance.now() - start);
        }
      }
      if (runtime.singleThreaded) runtime.singleThreaded(false);
      return { ms, names: corpus.map((c) => c.name) };
    },
    exit: async () => ({ peakRssMiB: lib.peakRssMiB() }),
  });
  process.stdout.write(`${JSON.stringify({ ok: true, ready: true })}\n`);
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ ok: false, error: String(err && err.stack ? err.stack : err) })}\n`);
  process.exit(1);
});
