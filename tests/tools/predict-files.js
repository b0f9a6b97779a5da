#!/usr/bin/env node
'use strict';
// Driven by tests/python/test_parity.py: classifies files with the addon and prints one JSON
// document with, per file, the prediction and its full float32 logits (or the error code), and
// optionally the preprocessed tensor as base64 float32 bytes.
//   node tests/tools/predict-files.js --model M [--threads N] [--precision bf16] [--optimize F] [--tensors] FILE...

const fs = require('node:fs');
const { parseArgs } = require('node:util');
const chori = require('chori-torch');

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      threads: { type: 'string', default: '1' },
      precision: { type: 'string' }, // default: the artifact's own
      optimize: { type: 'string', default: 'auto' },
      tensors: { type: 'boolean' },
    },
  });
  const model = await chori.load(values.model, {
    threads: Number(values.threads),
    precision: values.precision,
    optimize: values.optimize,
  });
  const results = [];
  for (const file of positionals) {
    const bytes = fs.readFileSync(file);
    try {
      const r = await model.predict(bytes, { topk: model.labels.length, logits: true });
      const entry = { file, label: r.label, index: r.index, score: r.score, logits: Array.from(r.logits) };
      entry.topk = r.topk;
      if (values.tensors) {
        const t = await model.preprocess(bytes);
        entry.shape = t.shape;
        entry.tensor = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64');
      }
      results.push(entry);
    } catch (err) {
      results.push({ file, error: { code: err.code, message: err.message } });
    }
  }
  await model.dispose();
  process.stdout.write(JSON.stringify({ info: model.info, simd: chori.simd(), results }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
