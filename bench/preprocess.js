#!/usr/bin/env node
'use strict';
// Preprocessing speed (bytes → model input tensor, one thread) of every resampler path the CPU
// runs (CHORI_SIMD=scalar|sse2|avx2|avx512, docs/ARCHITECTURE.md) against PIL + torchvision, on
// resnet18's recipe (resize 256, crop 224) and the demo model's, over the photographs
// scikit-image and scikit-learn ship. Every runtime is its own worker process (bench/worker.js,
// bench/reference.py) and the requests are interleaved, so that load from elsewhere on a shared
// machine spreads over all of them; the first request of each is a warm-up. Prints the CPU, then
// per recipe the mean over images of each image's median ms, and its ratio to Python's.
//
//   node bench/preprocess.js [--requests N] [--models resnet18,demo] [--baseline DIR]
//
// --baseline DIR: also time the chori-torch checkout in DIR (its addon built, its bench/.work
// prepared), e.g. the revision before a change, in the same interleaved rounds.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const lib = require('./lib');

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string', default: '5' },
    models: { type: 'string', default: 'resnet18,demo' },
    baseline: { type: 'string' },
  },
});
const PYTHON = path.join(lib.ROOT, '.venv', 'bin', 'python');
const ROUNDS_PER_REQUEST = 2;

function die(message) {
  console.error(`preprocess: FAILED: ${message}`);
  process.exit(1);
}

// The CPU model and the vector extensions that matter here, from /proc/cpuinfo.
function cpuLine() {
  const info = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const flagsLine = (info.match(/^flags\s*:(.*)$/m) || ['', ''])[1].split(/\s+/);
  const wanted = flagsLine.filter((f) => /^(sse2|avx2|avx512f|avx512bw|avx512_vnni|amx_\w+)$/.test(f));
  return `${os.cpus()[0].model}, ${os.cpus().length} cpus, flags: ${wanted.join(' ')}`;
}

// One worker process answering bench/lib.js's line protocol.
function startWorker(label, command, args, env) {
  const child = spawn(command, args, { cwd: lib.ROOT, env, stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = [];
  let buffer = '';
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const answer = JSON.parse(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      if (!answer.ok) die(`${label}: ${answer.error}`);
      waiting.shift()(answer);
    }
  });
  child.on('exit', (code) => waiting.length && die(`${label} exited with status ${code}`));
  const next = () => new Promise((resolve) => waiting.push(resolve));
  const ready = next();
  return {
    label,
    ready,
    request(cmd) {
      child.stdin.write(`${JSON.stringify(cmd)}\n`);
      return next();
    },
    stop: () => child.stdin.end(),
  };
}

function workers(model, paths) {
  const env = { ...process.env };
  delete env.CHORI_SIMD;
  const chori = (root, label, simd) =>
    startWorker(label, process.execPath, [path.join(root, 'bench', 'worker.js'), '--runtime', 'chori', '--model', model, '--threads', '1'], {
      ...env,
      ...(simd ? { CHORI_SIMD: simd } : {}),
    });
  const list = paths.map((p) => chori(lib.ROOT, p, p));
  if (flags.baseline) list.push(chori(path.resolve(flags.baseline), 'baseline'));
  list.push(startWorker('PIL+torchvision', PYTHON, [path.join(__dirname, 'reference.py'), '--model', model, '--threads', '1'], env));
  return list;
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

// Per image the median over its requests and rounds, then the mean over images.
function meanOfMedians(answers) {
  const perImage = answers[0].names.map((_, i) => lib.median(answers.flatMap((a) => a.ms.filter((_, j) => j % a.names.length === i))));
  return mean(perImage);
}

async function measure(model, paths) {
  const list = workers(model, paths);
  await Promise.all(list.map((w) => w.ready));
  for (const w of list.filter((x) => paths.includes(x.label))) {
    const { versions } = await w.request({ op: 'hello' });
    if (versions.simd !== w.label) die(`asked for ${w.label}, the worker runs ${versions.simd}`);
  }
  const answers = new Map(list.map((w) => [w.label, []]));
  const requests = Number(flags.requests);
  for (let r = 0; r <= requests; r++) {
    for (const w of list) {
      const answer = await w.request({ op: 'preprocess', rounds: ROUNDS_PER_REQUEST });
      if (r > 0) answers.get(w.label).push(answer);
    }
  }
  list.forEach((w) => w.stop());
  const ms = new Map([...answers].map(([label, a]) => [label, meanOfMedians(a)]));
  const python = ms.get('PIL+torchvision');
  console.log(`\n${model}: mean ms/image (ratio to PIL+torchvision), ${answers.get('PIL+torchvision')[0].names.length} images`);
  for (const [label, value] of ms) console.log(`  ${label.padEnd(16)} ${value.toFixed(3).padStart(7)} ms  ${(value / python).toFixed(3)}x`);
}

async function main() {
  const prep = spawnSync(PYTHON, [path.join(__dirname, 'prepare.py'), '--skip-onnx'], { cwd: lib.ROOT, stdio: 'inherit' });
  if (prep.status !== 0) die('bench/prepare.py --skip-onnx failed');
  const { available } = require(lib.ROOT).simd();
  console.log(`cpu: ${cpuLine()}`);
  console.log(`resampler paths: ${available.join(', ')}; ${Number(flags.requests)} requests x ${ROUNDS_PER_REQUEST} rounds each, interleaved`);
  for (const model of flags.models.split(',')) await measure(model, available);
}

main().catch((err) => die(err.stack || String(err)));
