'use strict';
// The addon build's discovery and its refusals, run for real on a copy of the build scripts (so
// the checkout's own addon is never touched): which libtorch it takes and why it rejects the
// others, and the one paragraph it prints when the compiler or the image headers are missing.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { root } = require('./helpers');
const { findLibtorch } = require('../../scripts/find-libtorch');

const venv = path.join(root, '.venv');
const torchDir = JSON.parse(fs.readFileSync(path.join(root, 'addon', 'build', 'chori-build.json'), 'utf8')).libtorch;
const bare = { PATH: process.env.PATH, HOME: os.homedir() };

function buildInCopy(env) {
  const pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'chori-build-'));
  fs.cpSync(path.join(root, 'scripts'), path.join(pkg, 'scripts'), { recursive: true });
  const r = spawnSync(process.execPath, [path.join(pkg, 'scripts', 'build-addon.js')], { encoding: 'utf8', env: { ...bare, ...env } });
  return { ...r, built: fs.existsSync(path.join(pkg, 'addon', 'build')) };
}

test('discovery: the first candidate that imports torch wins, and the others say why not', () => {
  const found = findLibtorch({ ...bare, CHORI_TORCH_PYTHON: '/nonexistent/python', VIRTUAL_ENV: venv });
  assert.equal(found.source, `the torch package of VIRTUAL_ENV=${venv}`);
  assert.ok(fs.existsSync(path.join(found.dir, 'lib', 'libtorch_cpu.so')));
  assert.match(found.version, /^\d+\.\d+\.\d+/);
  assert.deepEqual(found.tried, ['LIBTORCH: not set', 'CHORI_TORCH_PYTHON=/nonexistent/python: not found']);
  const byVar = findLibtorch({ ...bare, LIBTORCH: torchDir, VIRTUAL_ENV: '/nonexistent' });
  assert.equal(byVar.source, 'LIBTORCH');
  assert.throws(() => findLibtorch({ ...bare, LIBTORCH: os.tmpdir() }), /is not a libtorch distribution: missing include\/torch\/script\.h/);
});

test('no C++ compiler: one paragraph saying what to install, nothing built', () => {
  const r = buildInCopy({ LIBTORCH: torchDir, CXX: '/nonexistent/c++' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^chori-torch: cannot build the native addon: no C\+\+ compiler \(\/nonexistent\/c\+\+\) was found\. .*`sudo apt-get install g\+\+ make`.*`npm rebuild chori-torch` \(or `npx chori-torch build`\)\.\n$/);
  assert.equal(r.built, false);
});

test('image headers missing (a compiler whose sysroot has none): names them and the packages', () => {
  const r = buildInCopy({ LIBTORCH: torchDir, CXX: 'c++ --sysroot=/nonexistent' });
  assert.equal(r.status, 1);
  const paragraph = r.stderr.trim();
  assert.equal(paragraph.split('\n').length, 1, paragraph);
  assert.match(paragraph, /cannot find the development files of libjpeg-turbo \(jpeglib\.h\) and libpng \(png\.h\) and libwebp \(webp\/decode\.h, webp\/demux\.h\)/);
  for (const fix of ['sudo apt-get install libjpeg-dev libpng-dev libwebp-dev', 'libjpeg-turbo-devel libpng-devel libwebp-devel', 'brew install jpeg-turbo libpng webp', 'npm rebuild chori-torch']) {
    assert.ok(paragraph.includes(fix), fix);
  }
  assert.equal(r.built, false);
});
