#!/usr/bin/env node
'use strict';
// The GPU rows of `make bench`, and the batching curve that picks load()'s GPU defaults: for one
// model, end-to-end images/s, latency and the batch sizes formed at each maxBatch, with
// 2 × maxBatch concurrent callers, on the GPU (and the CPU's batch-off default for scale). Where
// no CUDA device is usable it prints why and skips, exit 0.
//   node bench/gpu.js [--model export/model.pt] [--device cuda:0] [--batches 1,2,...] [--seconds 4] [--write FILE]

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const chori = require('chori-torch');
const { describeGpus, gpus } = require('../js/gpus');
const { closedLoop, percentile } = require('./lib');

const ROOT = path.resolve(__dirname, '..');
// The CPU row runs CPU forwards before the CUDA loads: libtorch's CUDA part must be there first
// (docs/ARCHITECTURE.md, "GPU"). Read when the addon loads, on the first native() call below.
process.env.CHORI_TORCH_PRELOAD_CUDA = '1';
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: path.join(ROOT, 'export', 'model.pt') },
    images: { type: 'string', default: path.join(ROOT, 'export', 'images') },
    device: { type: 'string', default: 'cuda:0' },
    batches: { type: 'string', default: '1,2,4,8,16,32,64,128' },
    seconds: { type: 'string', default: '4' },
    write: { type: 'string' },
  },
});

async function row(label, options, corpus) {
  const model = await chori.load(values.model, options);
  const batchSizes = [];
  try {
    const call = async (i) => batchSizes.push((await model.predict(corpus[i])).batchSize);
    const concurrency = Math.max(4, 2 * (options.maxBatch ?? 1));
    for (let i = 0; i < concurrency; i++) await call(i % corpus.length); // first shapes, cuDNN's plans
    const r = await closedLoop({ concurrency, warmupMs: 500, durationMs: Number(values.seconds) * 1000, corpusSize: corpus.length, call });
    const meanBatch = batchSizes.slice(concurrency).reduce((a, b) => a + b, 0) / Math.max(1, batchSizes.length - concurrency);
    return `| ${label} | ${concurrency} | ${r.throughput.toFixed(1)} | ${percentile(r.latencies, 50).toFixed(1)} | ${percentile(r.latencies, 95).toFixed(1)} | ${meanBatch.toFixed(1)} |`;
  } finally {
    await model.dispose();
  }
}

async function main() {
  const report = gpus();
  if (!report.libtorchCuda || report.driver !== 'ready') {
    console.log(`bench/gpu.js: GPU rows skipped: ${describeGpus(report)}`);
    return;
  }
  const corpus = fs.readdirSync(values.images).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort()
    .map((f) => fs.readFileSync(path.join(values.images, f)));
  const lines = [
    `GPU batching curve: ${path.basename(values.model)}, ${describeGpus(report)}; CPU ${os.cpus()[0]?.model} × ${os.availableParallelism()}; ${values.seconds} s per row, end to end (decode on the CPU's libuv pool, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4})`,
    '',
    '| device, maxBatch | callers | images/s | p50 ms | p95 ms | mean batch |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  lines.push(await row('cpu, batch off (load\'s default)', { device: 'cpu' }, corpus));
  for (const maxBatch of values.batches.split(',').map(Number)) {
    const options = maxBatch === 1 ? { device: values.device } : { device: values.device, batch: true, maxBatch };
    lines.push(await row(`${values.device}, ${maxBatch === 1 ? 'batch off' : maxBatch}`, { ...options, maxBatch }, corpus));
    console.error(lines[lines.length - 1]);
  }
  const text = `${lines.join('\n')}\n`;
  process.stdout.write(text);
  if (values.write) fs.writeFileSync(values.write, text);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
