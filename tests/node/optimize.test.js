'use strict';
// load({ optimize }): the load-time graph passes, their report in model.info, and that one
// model's oneDNN Graph fusion (registered process-wide by libtorch) never changes another's.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const chori = require('chori-torch');
const { modelPath, exampleImages } = require('./helpers');
const { native: addon } = require('../../js/native');

async function logitsOf(options) {
  const model = await chori.load(modelPath, { threads: 1, ...options });
  const rows = [];
  for (const file of exampleImages()) rows.push(Array.from((await model.predict(fs.readFileSync(file), { logits: true })).logits));
  const { info } = model;
  await model.dispose();
  return { info, rows };
}

// First in this file, so the first 'none' model runs before any oneDNN fusion is registered.
test("a model loaded with optimize 'none' keeps its bits after another model enabled oneDNN fusion", async () => {
  const before = await logitsOf({ optimize: 'none' });
  const fused = await logitsOf({ optimize: 'onednn' });
  const after = await logitsOf({ optimize: 'none' });
  assert.deepEqual(after.rows, before.rows);
  assert.notDeepEqual(fused.rows, before.rows, 'fusion changes the last bits, so this test can tell the forms apart');
});

test("the default is 'auto', which picks oneDNN fusion for a fixed-size model and warms it up", async () => {
  const model = await chori.load(modelPath, { threads: 1 });
  const { info } = model;
  assert.equal(info.requestedOptimize, 'auto');
  assert.equal(info.optimize, 'onednn');
  assert.equal(info.warmupRuns, 3);
  assert.ok(info.warmupMs > 0 && info.optimizeMs > 0, JSON.stringify(info));
  assert.equal(info.threads, 1);
  assert.equal(info.precision, 'fp32');
  assert.equal(info.maxBatch, 1);
  assert.ok(Object.isFrozen(info));
  await model.dispose();
});

test('every form gives the same decisions, and each is deterministic across loads', async () => {
  const reference = await logitsOf({ optimize: 'none' });
  for (const optimize of ['freeze', 'ofi', 'onednn']) {
    const first = await logitsOf({ optimize });
    const second = await logitsOf({ optimize });
    assert.equal(first.info.optimize, optimize);
    assert.deepEqual(second.rows, first.rows, `${optimize}: same bits on a second load`);
    first.rows.forEach((row, i) => {
      const argmax = (r) => r.indexOf(Math.max(...r));
      assert.equal(argmax(row), argmax(reference.rows[i]), `${optimize}, image ${i}`);
      row.forEach((v, j) => assert.ok(Math.abs(v - reference.rows[i][j]) < 1e-4, `${optimize}: ${v} vs ${reference.rows[i][j]}`));
    });
  }
});

test('bf16 runs through the same passes', async () => {
  const model = await chori.load(modelPath, { threads: 1, precision: 'bf16' });
  assert.equal(model.info.optimize, 'onednn');
  assert.equal(model.info.precision, 'bf16');
  const r = await model.predict(fs.readFileSync(exampleImages()[0]));
  assert.ok(model.labels.includes(r.label));
  await model.dispose();
});

test("bf16 on a CPU without native bfloat16 says so in model.warnings, and only there", async () => {
  // libtorch's cpuid check against the kernel's view of the same CPU.
  const flags = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)[1].split(/\s+/);
  const native = flags.includes('avx512_bf16') || flags.includes('amx_bf16');
  assert.equal(addon().versions().nativeBf16, native);
  const bf16 = await chori.load(modelPath, { threads: 1, precision: 'bf16' });
  const fp32 = await chori.load(modelPath, { threads: 1 });
  const mentions = (model) => model.warnings.filter((w) => /AVX512_BF16 or AMX/.test(w));
  assert.equal(mentions(bf16).length, native ? 0 : 1);
  assert.deepEqual(mentions(fp32), []);
  await Promise.all([bf16.dispose(), fp32.dispose()]);
});

test('an unknown optimisation is a TypeError naming the choices', async () => {
  await assert.rejects(chori.load(modelPath, { optimize: 'fast' }), {
    name: 'TypeError',
    code: 'CHORI_INVALID_ARGUMENT',
    message: 'Expected one of auto, none, freeze, ofi, onednn for options.optimize but received "fast" of type string',
  });
});
