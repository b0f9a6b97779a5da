#!/usr/bin/env node
'use strict';
// Driven by tests/python/test_parity.py: classifies files with the addon and prints one JSON
// document with, per file, the prediction and its full float32 logits (or the error code), and
// optionally the preprocessed tensor as base64 float32 bytes.
//   node tests/tools/predict-files.js --model M [--threads N|default] [--precision bf16] [--optimize F]
//     [--concurrency C] [--tensors] [--device cuda:N] [--deterministic] FILE...
// --threads default leaves threads and workers to load() (adaptive parallelism); --concurrency
// keeps C predictions in flight at once (default 1: one after another).

const fs = require('node:fs');
const { parseArgs } = require('node:util');
const chori = require('chori-torch');

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      threads: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '1' },
      precision: { type: 'string' }, // default: the artifact's own
      optimize: { type: 'string', default: 'auto' },
      tensors: { type: 'boolean' },
      device: { type: 'string', default: 'cpu' },
      deterministic: { type: 'boolean', default: false },
    },
  });
  const model = await chori.load(values.model, {
    ...(values.threads !== 'default' && { threads: Number(values.threads) }),
    precision: values.precision,
    optimize: values.optimize,
    device: values.device,
    deterministic: values.deterministic,
  });
  const results = new Array(positionals.length);
  let next = 0;
  const lane = async () => {
    while (next < positionals.length) {
      const i = next++;
      results[i] = await classify(model, positionals[i], values.tensors);
    }
  };
  await Promise.all(Array.from({ length: Number(values.concurrency) }, lane));
  await model.dispose();
  process.stdout.write(JSON.stringify({ info: model.info, simd: chori.simd(), results }));
}

async function classify(model, file, tensors) {
  const bytes = fs.readFileSync(file);
  try {
    const r = await model.predict(bytes, { topk: model.labels.length, logits: true });
    const entry = { file, label: r.label, index: r.index, score: r.score, logits: Array.from(r.logits), topk: r.topk };
    if (tensors) {
      const t = await model.preprocess(bytes);
      entry.shape = t.shape;
      entry.tensor = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64');
    }
    return entry;
  } catch (err) {
    return { file, error: { code: err.code, message: err.message } };
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
