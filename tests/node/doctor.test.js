'use strict';
// `versions` and `chori-torch doctor`, asserted on their real output: against what the system's
// pkg-config and the build's own record say, for a healthy setup, a broken model path and a
// package whose addon was never built.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { root, modelPath } = require('./helpers');
const chori = require('chori-torch');

const cli = path.join(root, 'js', 'cli.js');
const doctor = (args, cliPath = cli) => spawnSync(process.execPath, [cliPath, 'doctor', ...args], { cwd: root, encoding: 'utf8' });
const stamp = JSON.parse(fs.readFileSync(path.join(root, 'addon', 'build', 'chori-build.json'), 'utf8'));

function pkgConfigVersion(name) {
  const r = spawnSync('pkg-config', ['--modversion', name], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

test('versions names every component, from the addon itself', () => {
  const v = chori.versions;
  assert.deepEqual(Object.keys(v).sort(), ['chori-torch', 'libjpeg-turbo', 'libpng', 'libtorch', 'libwebp', 'napi']);
  assert.equal(v['chori-torch'], require('../../package.json').version);
  // The torch the build chose (its Python said so) is the libtorch the headers declared.
  assert.equal(v.libtorch, stamp.libtorchVersion.split('+')[0]);
  assert.equal(v.napi, '8');
  for (const [key, pc] of [['libpng', 'libpng'], ['libwebp', 'libwebp'], ['libjpeg-turbo', 'libjpeg']]) {
    const expected = pkgConfigVersion(pc);
    if (expected) assert.equal(v[key], expected, key);
    else assert.match(v[key], /^\d+\.\d+\.\d+$/, key);
  }
  assert.ok(Object.isFrozen(v));
});

test('doctor, healthy: every check ok, the model described, exit 0', () => {
  const r = doctor(['--model', modelPath]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const row = (name) => r.stdout.split('\n').find((l) => new RegExp(`^  \\w+\\s+${name}\\s`).test(l));
  assert.match(row('node'), new RegExp(`^  ok\\s+node\\s+${process.version.replace(/\./g, '\\.')} \\(N-API ${process.versions.napi}\\)`));
  assert.match(row('addon'), /^ {2}ok\s+addon\s+.*chori_torch\.node \(built for N-API 8\)/);
  assert.ok(row('libtorch').includes(`${chori.versions.libtorch} at ${stamp.libtorch}`), row('libtorch'));
  assert.match(row('cpu'), /AVX2 (yes|no), AVX-512 (yes|no), AVX512_BF16 (yes|no), AMX (yes|no); libtorch's kernels: (DEFAULT|AVX2|AVX512|\w+)/);
  // No GPU is not a problem (ok); the row says what device 'cuda' would find.
  assert.match(row('gpu'), /^ {2}ok\s+gpu\s+(none usable: .*|cuda:0 .* GiB, compute \d+\.\d+\).*driver supports CUDA)/);
  assert.match(row('threads'), new RegExp(`load\\(\\): ${os.availableParallelism()} intra-op threads`));
  assert.match(row('model'), /^ {2}ok\s+model\s+.*model\.pt loads: labels Not face, Face; resize \[\d+\], crop \[\d+,\d+\], bilinear/);
  assert.match(r.stdout, /\nno problems found/);
  const json = JSON.parse(doctor(['--model', modelPath, '--json']).stdout);
  assert.equal(json.ok, true);
  assert.deepEqual(json.checks.map((c) => c.name),
    ['chori-torch', 'node', 'addon', 'libtorch', 'libjpeg-turbo', 'libpng', 'libwebp', 'cpu', 'gpu', 'threads', 'model']);
});

test('doctor with a broken model path: the model row fails with its code and a fix, exit 1', () => {
  const r = doctor(['--model', path.join(os.tmpdir(), 'no-such-model.pt')]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^ {2}fail\s+model\s+.*no-such-model\.pt: CHORI_MODEL_LOAD: /m);
  assert.match(r.stdout, /fix: check the path; an artifact is the file `chori export --out` writes/);
  assert.match(r.stdout, /1 problem found/);
  // A file that is not an artifact: CHORI_MODEL_LOAD too, never a crash.
  const junk = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chori-doctor-')), 'junk.pt');
  fs.writeFileSync(junk, 'not a model');
  assert.equal(doctor(['--model', junk]).status, 1);
});

test('doctor in a package whose addon was never built: says how to build it, exit 1', () => {
  const pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'chori-unbuilt-'));
  for (const entry of ['js', 'scripts', 'package.json']) fs.cpSync(path.join(root, entry), path.join(pkg, entry), { recursive: true });
  const r = doctor(['--model', modelPath], path.join(pkg, 'js', 'cli.js'));
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^ {2}fail\s+addon\s+not built \(.*chori_torch\.node is missing\)/m);
  assert.match(r.stdout, /fix: run `npx chori-torch build`; a build now would (use libtorch|fail)/);
  assert.match(r.stdout, /^ {2}fail\s+model\s+.*not checked: the addon does not load/m);
});
