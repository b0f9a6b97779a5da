'use strict';
// `chori-torch doctor`: what a user runs when something is off, and pastes into a bug report.
// Each check says ok, warn (works, but outside what was verified) or fail (broken), and every
// warn or fail carries the fix. Nothing here throws: a broken part is a row in the report.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { native, BINARY, BUILD_STAMP, BUILD_COMMAND } = require('./native');
const { versions, torchRelease, CHECKED, VERSION } = require('./versions');

const PACKAGE_ROOT = path.resolve(__dirname, '..');
// /proc/cpuinfo flag → the name users know.
const CPU_FEATURES = [
  ['avx2', 'AVX2'],
  ['avx512f', 'AVX-512'],
  ['avx512_bf16', 'AVX512_BF16'],
  ['amx_tile', 'AMX'],
];

const ok = (name, detail) => ({ name, status: 'ok', detail });
const warn = (name, detail, fix) => ({ name, status: 'warn', detail, fix });
const fail = (name, detail, fix) => ({ name, status: 'fail', detail, fix });

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** The CPU's vector features from /proc/cpuinfo (Linux); null elsewhere. */
function cpuFeatures() {
  let text;
  try {
    text = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
  const flags = new Set((text.match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/));
  const model = text.match(/^model name\s*:(.*)$/m)?.[1].trim() ?? os.cpus()[0]?.model ?? 'unknown CPU';
  return { model, features: Object.fromEntries(CPU_FEATURES.map(([flag, name]) => [name, flags.has(flag)])) };
}

/** Where a build would take libtorch from now, or the paragraph saying why none is found. */
function libtorchCandidate() {
  try {
    const found = require('../scripts/find-libtorch').findLibtorch();
    return `a build now would use libtorch${found.version ? ` ${found.version}` : ''} at ${found.dir} (${found.source})`;
  } catch (err) {
    return `a build now would fail: ${err.message} (looked at: ${(err.tried ?? []).join('; ')}); install torch==2.14.1 in a Python ` +
      'environment and activate it, or set CHORI_TORCH_PYTHON or LIBTORCH';
  }
}

function addonChecks(checks) {
  let v;
  try {
    v = { ...native().versions(), ...versions() };
  } catch (err) {
    const stamp = readJson(BUILD_STAMP);
    const built = fs.existsSync(BINARY);
    const why = built && stamp && !fs.existsSync(stamp.libtorch)
      ? `it was built against libtorch at ${stamp.libtorch}, which is gone; `
      : '';
    checks.push(fail('addon', built ? `${BINARY} does not load: ${err.message}` : `not built (${BINARY} is missing)`,
      `${why}run \`${BUILD_COMMAND}\`; ${libtorchCandidate()}`));
    return null;
  }
  checks.push(ok('addon', `${BINARY} (built for N-API ${v.napi})`));
  const stamp = readJson(BUILD_STAMP);
  const source = stamp?.source ? ` (chosen from ${stamp.source})` : '';
  if (v.libtorchDir && !fs.existsSync(v.libtorchDir)) {
    checks.push(fail('libtorch', `${v.libtorch}, built against ${v.libtorchDir}, which no longer exists`,
      `run \`${BUILD_COMMAND}\`; ${libtorchCandidate()}`));
  } else {
    checks.push(ok('libtorch', `${v.libtorch} at ${v.libtorchDir}${source}; oneDNN ${v.mkldnn.replace(/^Intel\(R\) MKL-DNN /, '').replace(/ \(Git Hash .*\)$/, '')}`));
  }
  for (const lib of Object.keys(CHECKED)) {
    const version = v[lib];
    const checked = CHECKED[lib];
    if (checked.includes(version)) checks.push(ok(lib, `${version} (the parity suite was run with it)`));
    else {
      checks.push(warn(lib, `${version}: the parity suite was run with ${checked.join(' and ')}, not this version`,
        'decoding is expected to match PIL, but run the parity tests (make test) or compare a few images with `chori golden` before relying on bit-exactness'));
    }
  }
  return v;
}

function cpuCheck(checks, v) {
  const cpu = cpuFeatures();
  const kernels = v?.cpuCapability ? `; libtorch's kernels: ${v.cpuCapability}` : '';
  if (!cpu) return checks.push(ok('cpu', `${os.cpus()[0]?.model ?? 'unknown'}; vector features unknown (no /proc/cpuinfo)${kernels}`));
  const features = Object.entries(cpu.features).map(([name, has]) => `${name} ${has ? 'yes' : 'no'}`).join(', ');
  return checks.push(ok('cpu', `${cpu.model}: ${features}${kernels}`));
}

function threadCheck(checks, v) {
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const pool = process.env.UV_THREADPOOL_SIZE ? `${process.env.UV_THREADPOOL_SIZE} (UV_THREADPOOL_SIZE)` : '4 (default; UV_THREADPOOL_SIZE)';
  const omp = process.env.OMP_NUM_THREADS ? `, OMP_NUM_THREADS=${process.env.OMP_NUM_THREADS}` : '';
  const libtorch = v ? `libtorch's own default ${v.intraOpThreads} intra-op / ${v.interOpThreads} inter-op${omp}; ` : '';
  checks.push(ok('threads', `load(): ${cores} intra-op threads per model unless \`threads\` says (${cores} cores); serve: 1; ${libtorch}decoding: libuv pool of ${pool}`));
}

async function modelCheck(checks, modelPath, v) {
  const resolved = path.resolve(modelPath);
  let model;
  try {
    model = await require('./model').load(resolved, { threads: 1 });
  } catch (err) {
    const fix = err.code === 'CHORI_MODEL_METADATA'
      ? 'the file is not an artifact written by `chori export` (or was written by a newer one): export it again with `chori export`'
      : 'check the path; an artifact is the file `chori export --out` writes';
    return checks.push(fail('model', `${resolved}: ${err.code ?? 'error'}: ${err.message}`, fix));
  }
  const { labels, input, provenance } = model.metadata;
  const shown = labels.length > 6 ? `${labels.slice(0, 6).join(', ')}, … (${labels.length})` : labels.join(', ');
  const prep = `resize ${JSON.stringify(input.resize)}, crop ${JSON.stringify(input.crop)}, ${input.interpolation}` +
    (input.exifOrientation ? ', EXIF orientation applied' : '');
  const from = ['arch', 'torch_version', 'chori_torch_version', 'exported_at'].filter((k) => provenance[k] !== undefined)
    .map((k) => `${k} ${provenance[k]}`).join(', ');
  checks.push(ok('model', `${resolved} loads: labels ${shown}; ${prep}; ${from}`));
  for (const w of model.warnings) checks.push(warn('model', w, `export the model with torch ${torchRelease(v.libtorch)}, or rebuild the addon against the torch it was exported with`));
  await model.dispose();
  return null;
}

/** Runs every check; { ok, checks: [{ name, status, detail, fix? }] }. */
async function doctor({ model } = {}) {
  const checks = [
    ok('chori-torch', `${VERSION} at ${PACKAGE_ROOT}`),
    ok('node', `${process.version} (N-API ${process.versions.napi}) at ${process.execPath}`),
  ];
  const v = addonChecks(checks);
  cpuCheck(checks, v);
  if (v) checks.push(ok('gpu', require('./gpus').describeGpus()));
  threadCheck(checks, v);
  if (model !== undefined) {
    if (v) await modelCheck(checks, model, v);
    else checks.push(fail('model', `${path.resolve(model)} not checked: the addon does not load`, `run \`${BUILD_COMMAND}\` first`));
  }
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

function formatReport(report) {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = [`chori-torch doctor`];
  for (const c of report.checks) {
    lines.push(`  ${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`);
    if (c.fix) lines.push(`  ${' '.repeat(4)}  ${' '.repeat(width)}  fix: ${c.fix}`);
  }
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  lines.push(failed ? `${failed} problem${failed > 1 ? 's' : ''} found: see the fix lines above` : `no problems found${warned ? ` (${warned} warning${warned > 1 ? 's' : ''})` : ''}`);
  return lines.join('\n');
}

module.exports = { doctor, formatReport, cpuFeatures };
