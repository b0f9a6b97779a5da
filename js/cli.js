#!/usr/bin/env node
'use strict';
// chori-torch command line: `chori-torch predict <files or dirs…>`, `serve`, `build`, `doctor`.

// First, before the addon and libtorch load: a stop sent while they do must not be lost.
if (process.argv[2] === 'serve') require('./server/early-signals').hold();

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const chori = require('./index');

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.bmp', '.ppm', '.pgm', '.pbm', '.pnm', '.ico', '.avif', '.tif', '.tiff']);
const CONCURRENCY = 4;

const HELP = `Usage: chori-torch predict <files or directories…> [options]
       chori-torch serve [--model [NAME=]PATH]… [--port N] [--host HOST] [options]
       chori-torch build
       chori-torch doctor [--model PATH] [--json]

predict classifies image files with a model exported by \`chori export\`.
serve answers HTTP requests (POST /predict with the image bytes, GET /healthz, /metrics…);
\`chori-torch serve --help\` lists its options, docs/SERVING.md describes the API.
build compiles the native addon (what \`npm install\` does; run it after --ignore-scripts, or
to rebuild against another torch): libtorch from LIBTORCH, CHORI_TORCH_PYTHON, VIRTUAL_ENV,
CONDA_PREFIX, then python3 / python on PATH.
doctor reports Node, the addon, libtorch, the image libraries, the CPU and threads, and with
--model whether that artifact loads; exit status 1 when something is broken.

predict options:
  --model PATH   the artifact to use (default: $CHORI_TORCH_MODEL, else export/model.pt)
  --topk K       how many ranked labels to report per image (default: 1 in the table, 5 with --json)
  --json         print one JSON object per image instead of a table
  --threads N    libtorch intra-op threads of each worker (default: cores / workers)
  --workers N    inference threads, each running its own forward (default: 1)
  --optimize F   load-time graph passes: auto, none, freeze, ofi, onednn (default: auto)
  --device D     where forward runs: cpu, cuda or cuda:N (default: cpu)
  -h, --help     show this help
  --version      print the version

Directories are searched recursively for .jpg, .jpeg, .png, .webp, .gif, .bmp,
.ppm, .pgm, .pbm, .pnm, .ico, .avif, .tif and .tiff files; files
named explicitly are read whatever their name (the format is sniffed from the bytes).
Exit status: 0 when every image was classified, 1 when some failed, 2 on a usage error.`;

function listImages(inputs) {
  const files = [];
  const walk = (p) => {
    const stat = fs.statSync(p);
    if (!stat.isDirectory()) return files.push(p);
    for (const entry of fs.readdirSync(p).sort()) {
      const child = path.join(p, entry);
      if (fs.statSync(child).isDirectory()) walk(child);
      else if (IMAGE_EXTENSIONS.has(path.extname(entry).toLowerCase())) files.push(child);
    }
  };
  for (const input of inputs) walk(input);
  return files;
}

// Redraws one line on stderr; only used when stderr is a terminal.
function progressBar(total) {
  let done = 0;
  return {
    tick() {
      done += 1;
      const width = 30;
      const filled = Math.round((done / total) * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
      if (done === total) process.stderr.write('\n');
    },
  };
}

async function mapConcurrent(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function printTable(rows) {
  const lines = rows.map((r) =>
    r.error
      ? [r.file, 'ERROR', r.error.code, r.error.message]
      : [r.file, r.label, r.score.toFixed(4), `${r.timings.totalMs.toFixed(1)} ms`],
  );
  const header = ['file', 'label', 'score', 'time'];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const fmt = (cols) => cols.map((c, i) => (i === cols.length - 1 ? c : String(c).padEnd(widths[i]))).join('  ');
  console.log(fmt(header));
  for (const l of lines) console.log(fmt(l));
}

async function predictCommand(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      topk: { type: 'string' },
      json: { type: 'boolean', default: false },
      threads: { type: 'string' },
      workers: { type: 'string' },
      optimize: { type: 'string' },
      device: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return console.log(HELP);
  if (positionals.length === 0) throw usage('predict needs at least one image file or directory');
  const topk = values.topk === undefined ? (values.json ? 5 : 1) : Number(values.topk);
  if (!Number.isInteger(topk) || topk < 1) throw usage(`--topk must be a positive integer, not ${values.topk}`);
  const loadOptions = {};
  if (values.threads !== undefined) loadOptions.threads = Number(values.threads);
  if (values.workers !== undefined) loadOptions.workers = Number(values.workers);
  if (values.optimize !== undefined) loadOptions.optimize = values.optimize;
  if (values.device !== undefined) loadOptions.device = values.device;

  const files = listImages(positionals);
  if (files.length === 0) throw usage(`no image files found in ${positionals.join(', ')}`);
  const model = await chori.load(values.model ?? chori.defaultModelPath(), loadOptions);
  const bar = process.stderr.isTTY && files.length > 20 ? progressBar(files.length) : null;
  const k = Math.min(topk, model.labels.length);
  const rows = await mapConcurrent(files, CONCURRENCY, async (file) => {
    try {
      const r = await model.predict(fs.readFileSync(file), { topk: k });
      return { file, label: r.label, index: r.index, score: r.score, topk: r.topk, timings: r.timings };
    } catch (err) {
      return { file, error: { code: err.code ?? 'CHORI_INTERNAL', message: err.message } };
    } finally {
      bar?.tick();
    }
  });
  await model.dispose();
  if (values.json) for (const r of rows) console.log(JSON.stringify(r));
  else printTable(rows);
  return rows.some((r) => r.error) ? 1 : 0;
}

function buildCommand(argv) {
  if (argv.includes('-h') || argv.includes('--help')) return console.log(HELP);
  if (argv.length > 0) throw usage(`build takes no arguments (got ${argv.join(' ')}); choose libtorch with LIBTORCH or CHORI_TORCH_PYTHON`);
  const script = path.join(__dirname, '..', 'scripts', 'build-addon.js');
  const r = spawnSync(process.execPath, [script], { stdio: 'inherit' });
  return r.status ?? 1;
}

async function doctorCommand(argv) {
  const { values } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) return console.log(HELP);
  const { doctor, formatReport } = require('./doctor');
  const report = await doctor({ model: values.model });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return report.ok ? 0 : 1;
}

async function serveCommand(argv) {
  const server = require('./server');
  try {
    return await server.serveCommand(argv);
  } catch (err) {
    // Bad flags are usage errors (exit 2), like predict's.
    throw err.code === chori.codes.INVALID_ARGUMENT ? usage(err.message) : err;
  }
}

function usage(message) {
  const err = new Error(message);
  err.usage = true;
  return err;
}

async function main(argv) {
  const [command, ...rest] = argv;
  if (command === '--version') return console.log(chori.version);
  if (command === undefined || command === '-h' || command === '--help') return console.log(HELP);
  if (command === 'serve') return serveCommand(rest);
  if (command === 'build') return buildCommand(rest);
  if (command === 'doctor') return doctorCommand(rest);
  if (command !== 'predict') throw usage(`unknown command '${command}'`);
  return predictCommand(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code ?? 0;
  },
  (err) => {
    const usageError = err.usage || err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ||
      err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || err.code === 'ENOENT';
    console.error(`chori-torch: ${err.code && !err.usage ? `${err.code}: ` : ''}${err.message}`);
    if (usageError) console.error("Run 'chori-torch --help' for usage.");
    process.exitCode = usageError ? 2 : 1;
  },
);
