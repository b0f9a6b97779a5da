#!/usr/bin/env node
'use strict';
// Finds the libtorch to build against, the way tch-rs does: LIBTORCH names a libtorch
// distribution (include/ and lib/), else the `torch` package of the project's Python is used.
// With --print, writes the chosen directory for binding.gyp; with --explain, says why.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const REQUIRED = ['include/torch/script.h', 'lib/libtorch_cpu.so', 'lib/libc10.so'];

function check(dir) {
  const missing = REQUIRED.filter((f) => !fs.existsSync(path.join(dir, f)));
  return missing.length ? `missing ${missing.join(', ')}` : null;
}

function pythonCandidates() {
  const fromEnv = process.env.CHORI_PYTHON ? [process.env.CHORI_PYTHON] : [];
  return [...fromEnv, path.join(root, '.venv', 'bin', 'python'), 'python3'];
}

function findLibtorch() {
  const tried = [];
  if (process.env.LIBTORCH) {
    const dir = path.resolve(process.env.LIBTORCH);
    const problem = check(dir);
    if (problem) throw new Error(`LIBTORCH=${dir} is not a libtorch distribution: ${problem}`);
    return { dir, source: 'the LIBTORCH environment variable', tried };
  }
  for (const python of pythonCandidates()) {
    let dir;
    try {
      dir = execFileSync(python, ['-c', 'import os, torch; print(os.path.dirname(torch.__file__))'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      tried.push(`${python}: cannot import torch`);
      continue;
    }
    const problem = check(dir);
    if (problem) {
      tried.push(`${python}: torch at ${dir} is unusable (${problem})`);
      continue;
    }
    return { dir, source: `the torch package of ${python}`, tried };
  }
  throw new Error(
    `libtorch not found. Set LIBTORCH to a libtorch directory or install torch into .venv (make setup).\n` +
      tried.map((t) => `  tried ${t}`).join('\n'),
  );
}

module.exports = { findLibtorch };

if (require.main === module) {
  const found = findLibtorch();
  if (process.argv.includes('--explain')) {
    for (const t of found.tried) console.error(`libtorch: rejected ${t}`);
    console.error(`libtorch: using ${found.dir} (from ${found.source})`);
  }
  if (process.argv.includes('--print')) process.stdout.write(found.dir);
}
