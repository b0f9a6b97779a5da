'use strict';
// load({ device: 'cuda' }) on a machine with a usable GPU; every test is skipped, saying why,
// where there is none (CI). tests/gpu/run.sh runs these with the rest of the GPU checks.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const chori = require('chori-torch');
const { describeGpus, gpus } = require('../../js/gpus');
const { modelPath, exampleImages, root } = require('./helpers');

const report = gpus();
const skip = !(report.libtorchCuda && report.driver === 'ready') && `needs a usable CUDA device (${describeGpus(report)})`;

// A child process: what it maps, and what a CUDA load does after CPU forwards.
function child(source, env = {}) {
  return JSON.parse(execFileSync(process.execPath, ['-e', source], {
    encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env },
  }));
}

const prelude = `
const fs = require('node:fs');
const chori = require(${JSON.stringify(root)});
const image = fs.readFileSync(${JSON.stringify(exampleImages()[0])});
const cudaMapped = () => fs.readFileSync('/proc/self/maps', 'utf8').includes('libtorch_cuda.so');
const settle = (p) => p.then((v) => ({ ok: v }), (e) => ({ code: e.code, message: e.message }));
`;

test('a CUDA model answers with the CPU\'s top-1, reports its device, and batches 32 by default', { skip }, async () => {
  // CUDA first: a CPU forward before libtorch's CUDA part is loaded would keep it away for good
  // (model/device.cc; the child-process tests below cover that order).
  const gpu = await chori.load(modelPath, { device: 'cuda', batch: true });
  const cpu = await chori.load(modelPath, { threads: 1 });
  try {
    assert.equal(gpu.info.device, 'cuda:0');
    assert.equal(gpu.info.optimize, 'freeze');
    assert.equal(gpu.info.maxBatch, 32);
    const images = exampleImages().map((f) => fs.readFileSync(f));
    const expected = await Promise.all(images.map((b) => cpu.predict(b, { logits: true })));
    // Concurrent calls: gathered into batches on the GPU.
    const got = await Promise.all(images.map((b) => gpu.predict(b, { logits: true })));
    got.forEach((g, i) => assert.equal(g.index, expected[i].index, `image ${i}`));
    assert.ok(got.some((g) => g.batchSize > 1), 'concurrent calls shared a forward');
  } finally {
    await cpu.dispose();
    await gpu.dispose();
  }
});

test('a CUDA load maps libtorch_cuda; CPU models in the same process keep their bits', { skip }, () => {
  const out = child(`${prelude}
(async () => {
  const cpu = await chori.load(${JSON.stringify(modelPath)}, { threads: 1 });
  const before = (await cpu.predict(image, { logits: true })).logits;
  const mappedBefore = cudaMapped();
  const gpu = await settle(chori.load(${JSON.stringify(modelPath)}, { device: 'cuda' }));
  const after = (await cpu.predict(image, { logits: true })).logits;
  process.stdout.write(JSON.stringify({ mappedBefore, mappedAfter: cudaMapped(), gpu: gpu.code ? gpu : 'ok',
    same: before.every((v, i) => v === after[i]) }));
  process.exit(0);
})();`, { CHORI_TORCH_PRELOAD_CUDA: '' });
  assert.equal(out.mappedBefore, false);
  assert.equal(out.mappedAfter, out.gpu === 'ok');
  assert.equal(out.same, true);
  // libtorch keeps its first answer to "is CUDA here?", and a CPU convolution asks it: a CUDA
  // load after CPU forwards either works or says so (model/device.cc), never anything else.
  if (out.gpu !== 'ok') {
    assert.equal(out.gpu.code, 'CHORI_DEVICE');
    assert.match(out.gpu.message, /ran a CPU forward before libtorch's CUDA part was loaded.*CHORI_TORCH_PRELOAD_CUDA=1/);
  }
});

test('CHORI_TORCH_PRELOAD_CUDA=1 lets a process run CPU forwards before its first CUDA load', { skip }, () => {
  const out = child(`${prelude}
(async () => {
  const cpu = await chori.load(${JSON.stringify(modelPath)}, { threads: 1 });
  await cpu.predict(image);
  const gpu = await chori.load(${JSON.stringify(modelPath)}, { device: 'cuda' });
  const p = await gpu.predict(image);
  process.stdout.write(JSON.stringify({ label: p.label }));
  process.exit(0);
})();`, { CHORI_TORCH_PRELOAD_CUDA: '1' });
  assert.equal(typeof out.label, 'string');
});

test('CHORI_DEVICE on a GPU machine: no device visible, and an index past the last', { skip }, async () => {
  const hidden = child(`${prelude}
settle(chori.load(${JSON.stringify(modelPath)}, { device: 'cuda' })).then((r) => process.stdout.write(JSON.stringify(r)));`,
  { CUDA_VISIBLE_DEVICES: '' });
  assert.equal(hidden.code, 'CHORI_DEVICE');
  assert.match(hidden.message, /^device 'cuda:0' is not usable here: no CUDA device: the NVIDIA driver \(CUDA [0-9.]+\) sees none .*CUDA_VISIBLE_DEVICES=\)/);
  const past = `cuda:${report.devices.length}`;
  await assert.rejects(chori.load(modelPath, { device: past }), (err) => {
    assert.equal(err.code, 'CHORI_DEVICE');
    assert.match(err.message, new RegExp(`^device '${past}' is not usable here: no such CUDA device: the driver sees ${report.devices.length}`));
    return true;
  });
});
