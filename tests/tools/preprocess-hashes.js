#!/usr/bin/env node
'use strict';
// Driven by tests/python/test_simd.py: for each job { model, files }, the SHA-1 of every file's
// preprocessed tensor (shape, then float32 bytes), or its error code; and the resampler path
// that ran. One process for many small artifacts, hashes instead of tensors to keep it small.
//   node tests/tools/preprocess-hashes.js JOBS.json

const crypto = require('node:crypto');
const fs = require('node:fs');
const chori = require('chori-torch');

async function hashes(job) {
  const model = await chori.load(job.model, { threads: 1 });
  const out = {};
  for (const file of job.files) {
    try {
      const t = await model.preprocess(fs.readFileSync(file));
      const sha = crypto.createHash('sha1').update(t.shape.join('x'));
      out[file] = sha.update(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)).digest('hex');
    } catch (err) {
      out[file] = err.code;
    }
  }
  await model.dispose();
  return out;
}

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const results = {};
  for (const job of jobs) results[job.model] = await hashes(job);
  process.stdout.write(JSON.stringify({ simd: chori.simd(), results }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
