#!/usr/bin/env node
'use strict';
// Finds the libtorch to build against, the way tch-rs does, and says why each candidate was
// taken or rejected. In order, the first that works:
//   1. LIBTORCH            a libtorch distribution (include/ and lib/)
//   2. CHORI_TORCH_PYTHON  a Python interpreter whose `torch` package is used
//   3. VIRTUAL_ENV         the active virtual environment's python
//   4. CONDA_PREFIX        the active conda environment's python
//   5. python3, python     on PATH
// The package's own directory is never searched: installed as a dependency it has no Python of
// its own, and a checkout passes its .venv explicitly (the Makefile sets CHORI_TORCH_PYTHON).
// With --print, writes the chosen directory (binding.gyp); with --explain, says why on stderr.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const REQUIRED = ['include/torch/script.h', 'lib/libtorch_cpu.so', 'lib/libc10.so'];
const PROBE = 'import os, torch; print(os.path.dirname(torch.__file__)); print(torch.__version__)';

function check(dir) {
  const missing = REQUIRED.filter((f) => !fs.existsSync(path.join(dir, f)));
  return missing.length ? `missing ${missing.join(', ')}` : null;
}

/** { label, python } in discovery order; an unset variable has no python and is only reported. */
function pythonCandidates(env) {
  const fromVar = (name, toPython) => (env[name] ? { label: `${name}=${env[name]}`, python: toPython(env[name]) } : { label: name });
  return [
    fromVar('CHORI_TORCH_PYTHON', (p) => p),
    fromVar('VIRTUAL_ENV', (p) => path.join(p, 'bin', 'python')),
    fromVar('CONDA_PREFIX', (p) => path.join(p, 'bin', 'python')),
    { label: 'python3 on PATH', python: 'python3' },
    { label: 'python on PATH', python: 'python' },
  ];
}

/** Runs `python` and asks its torch where it lives; a reason string when it cannot. */
function probe(python, env) {
  const r = spawnSync(python, ['-c', PROBE], { encoding: 'utf8', env, timeout: 60_000 });
  if (r.error) return { problem: r.error.code === 'ENOENT' ? 'not found' : r.error.message };
  if (r.status !== 0) {
    const last = r.stderr.trim().split('\n').pop() || `exit status ${r.status}`;
    return { problem: `cannot import torch (${last})` };
  }
  const [dir, version] = r.stdout.trim().split('\n');
  return { dir, version };
}

/**
 * The libtorch to use: { dir, version, source, tried } (version is null for LIBTORCH, whose
 * headers say it at build time). Throws an Error with `tried` when there is none.
 */
function findLibtorch(env = process.env) {
  const tried = [];
  if (env.LIBTORCH) {
    const dir = path.resolve(env.LIBTORCH);
    const problem = check(dir);
    if (problem) {
      const err = new Error(`LIBTORCH=${dir} is not a libtorch distribution: ${problem}`);
      err.tried = [`LIBTORCH=${dir}: ${problem}`];
      throw err;
    }
    return { dir, version: null, source: 'LIBTORCH', tried };
  }
  tried.push('LIBTORCH: not set');
  for (const { label, python } of pythonCandidates(env)) {
    if (!python) {
      tried.push(`${label}: not set`);
      continue;
    }
    const found = probe(python, env);
    if (found.problem) {
      tried.push(`${label}: ${found.problem}`);
      continue;
    }
    const problem = check(found.dir);
    if (problem) {
      tried.push(`${label}: torch ${found.version} at ${found.dir} is unusable (${problem})`);
      continue;
    }
    return { dir: found.dir, version: found.version, source: `the torch package of ${label}`, tried };
  }
  const err = new Error('libtorch not found');
  err.tried = tried;
  throw err;
}

module.exports = { findLibtorch };

if (require.main === module) {
  try {
    const found = findLibtorch();
    if (process.argv.includes('--explain')) {
      for (const t of found.tried) console.error(`libtorch: rejected ${t}`);
      console.error(`libtorch: using ${found.dir} (${found.source})`);
    }
    if (process.argv.includes('--print')) process.stdout.write(found.dir);
  } catch (err) {
    console.error(`libtorch: ${err.message}`);
    for (const t of err.tried ?? []) console.error(`libtorch: rejected ${t}`);
    process.exit(1);
  }
}
