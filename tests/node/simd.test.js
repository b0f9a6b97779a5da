'use strict';
// simd(): the resampler's vector path (docs/ARCHITECTURE.md, "SIMD dispatch"), and CHORI_SIMD.
// The pixels of every path are checked against PIL by tests/python/test_simd.py.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const { root } = require('./helpers');

// simd() in a fresh process (the path is chosen once per process), with CHORI_SIMD = value.
function simdIn(value) {
  const script = `
    const chori = require('chori-torch');
    try { console.log(JSON.stringify(chori.simd())); }
    catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message })); }`;
  const env = { ...process.env, CHORI_SIMD: value };
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, env, encoding: 'utf8' }));
}

test('simd() names the active path among those available, the fastest by default', () => {
  const { active, available } = simdIn('');
  assert.equal(available[0], 'scalar');
  assert.equal(active, available.at(-1));
});

test('CHORI_SIMD forces every available path', () => {
  for (const path of simdIn('').available) assert.equal(simdIn(path).active, path);
});

test('CHORI_SIMD with an unknown path is CHORI_INTERNAL, naming the paths available', () => {
  const r = simdIn('avx9000');
  assert.equal(r.code, 'CHORI_INTERNAL');
  assert.match(r.message, /CHORI_SIMD=avx9000 is not a path.*available here: scalar/);
});
