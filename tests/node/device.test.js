'use strict';
// load({ device }) on a machine without a usable GPU (CI's): the option is validated at the
// door, 'cuda' rejects with CHORI_DEVICE naming what is missing, and the CPU path never maps
// libtorch's CUDA libraries. tests/node/gpu.test.js holds what needs a GPU.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const chori = require('chori-torch');
const { native } = require('../../js/native');
const { modelPath, firstImage, root } = require('./helpers');

const gpus = native().gpus();
const usableGpu = gpus.libtorchCuda && gpus.driver === 'ready';

async function rejectsWith(promise, code, pattern) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

test('device defaults to cpu and is reported with deterministic in model.info', async () => {
  const model = await chori.load(modelPath, { threads: 1 });
  const explicit = await chori.load(modelPath, { threads: 1, device: 'cpu', deterministic: true });
  try {
    assert.equal(model.info.device, 'cpu');
    assert.equal(model.info.deterministic, false);
    assert.equal(explicit.info.device, 'cpu');
    assert.equal(explicit.info.deterministic, true);
    const image = fs.readFileSync(firstImage('.jpg'));
    const [a, b] = await Promise.all([model.predict(image, { logits: true }), explicit.predict(image, { logits: true })]);
    assert.deepEqual(Array.from(b.logits), Array.from(a.logits), 'deterministic changes nothing on the CPU');
  } finally {
    await model.dispose();
    await explicit.dispose();
  }
});

test('a malformed device or deterministic is a CHORI_INVALID_ARGUMENT naming the option', async () => {
  for (const bad of ['gpu', 'CUDA', 'cuda:', 'cuda:-1', 'cuda:01', 'cuda:1024', 'cuda:1.5', 'cuda0', 'cpu:0', '', 0, true]) {
    await rejectsWith(chori.load(modelPath, { device: bad }), 'CHORI_INVALID_ARGUMENT',
      /^Expected 'cpu', 'cuda' or 'cuda:N' \(N from 0 to 1023\) for options\.device but received/);
  }
  await rejectsWith(chori.load(modelPath, { deterministic: 'yes' }), 'CHORI_INVALID_ARGUMENT',
    /Expected a boolean for options\.deterministic/);
});

test('oneDNN forms are refused on a CUDA device before anything loads', async () => {
  for (const form of ['ofi', 'onednn']) {
    await rejectsWith(chori.load(modelPath, { device: 'cuda', optimize: form }), 'CHORI_INVALID_ARGUMENT',
      new RegExp(`on cuda:0 .*for options\\.optimize but received "${form}"`));
  }
});

// What this machine lacks, in the order the addon checks it (model/device.cc).
function expectedReason() {
  if (!gpus.libtorchCuda) return /the addon's libtorch is a CPU-only build \(.* has no lib\/libtorch_cuda\.so\)/;
  if (gpus.driver === 'no-driver') return /no NVIDIA driver is installed \(.*libcuda\.so\.1/;
  if (gpus.driver === 'no-device') return /no CUDA device: the NVIDIA driver \(CUDA [0-9.]+\) sees none/;
  return /the NVIDIA driver \(CUDA [0-9.]+\) did not start/;
}

test('device cuda without a usable GPU rejects with CHORI_DEVICE saying which part is missing',
  { skip: usableGpu && 'this machine has a usable GPU (tests/node/gpu.test.js covers it)' }, async () => {
    for (const device of ['cuda', 'cuda:3']) {
      const name = device === 'cuda' ? 'cuda:0' : device;
      await rejectsWith(chori.load(modelPath, { device }), 'CHORI_DEVICE',
        new RegExp(`^device '${name}' is not usable here: ${expectedReason().source}`));
    }
    await assert.rejects(chori.load(modelPath, { device: 'cuda' }), (err) => err instanceof chori.ChoriError);
  });

test('chori.gpus() reports the driver\'s view; without a GPU libtorch\'s CUDA part stays unloaded', () => {
  assert.deepEqual(chori.gpus(), gpus);
  assert.equal(typeof gpus.libtorchCuda, 'boolean');
  assert.ok(['no-driver', 'driver-error', 'no-device', 'ready'].includes(gpus.driver));
  assert.equal(gpus.driver === 'ready', gpus.devices.length > 0);
  if (!usableGpu) assert.equal(gpus.runtime, '', 'libtorch\'s CUDA part was not loaded by asking');
});

// Run in a child so that nothing this test process loaded counts: the CPU path, a failed CUDA
// load and the gpus() probe, then the libraries the process has mapped. (libcudart is not
// looked for: a CUDA wheel's libtorch_cpu.so itself lists libcudart.so as NEEDED, so every
// process of such a build maps it, before this change as after; it does not start the driver.)
const MAPS_PROBE = `
const fs = require('node:fs');
const chori = require(${JSON.stringify(root)});
const { native } = require(${JSON.stringify(`${root}/js/native`)});
(async () => {
  const model = await chori.load(${JSON.stringify(modelPath)}, { threads: 1 });
  const image = fs.readFileSync(${JSON.stringify(firstImage('.jpg'))});
  const before = (await model.predict(image, { logits: true })).logits;
  const mapped = () => [...new Set(fs.readFileSync('/proc/self/maps', 'utf8').split('\\n')
    .map((line) => line.split(/\\s+/)[5]).filter((p) => p && /\\/(lib(torch_cuda|c10_cuda|cudnn|cublas)[^/]*|libcuda)\\.so/.test(p)))];
  const cpu = mapped();
  let cudaError = null;
  if (!process.argv.includes('--cpu-only')) {
    native().gpus();
    cudaError = await chori.load(${JSON.stringify(modelPath)}, { device: 'cuda' }).then((m) => m.dispose() && null, (e) => e.code);
  }
  const after = (await model.predict(image, { logits: true })).logits;
  await model.dispose();
  process.stdout.write(JSON.stringify({ cpu, afterCuda: mapped(), cudaError, same: before.every((v, i) => v === after[i]) }));
})();
`;

test('the CPU path maps none of libtorch\'s CUDA libraries (/proc/self/maps)', () => {
  const out = JSON.parse(execFileSync(process.execPath, ['-e', MAPS_PROBE], { encoding: 'utf8', timeout: 120_000 }));
  assert.deepEqual(out.cpu, [], `a CPU model mapped ${out.cpu.join(', ')}`);
  assert.equal(out.same, true, 'the CPU model answers the same after the CUDA attempt');
  if (!usableGpu) {
    assert.equal(out.cudaError, 'CHORI_DEVICE');
    assert.deepEqual(out.afterCuda, [], 'a refused CUDA load maps nothing either');
    // The preload only loads what a driver and a device could use.
    const preloaded = JSON.parse(execFileSync(process.execPath, ['-e', MAPS_PROBE],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, CHORI_TORCH_PRELOAD_CUDA: '1' } }));
    assert.deepEqual(preloaded.cpu, []);
  }
});

test('chori-torch serve and predict --device cuda without a usable GPU exit 1 with CHORI_DEVICE and the reason',
  { skip: usableGpu && 'this machine has a usable GPU' }, () => {
    const r = spawnSync(process.execPath, [path.join(root, 'js', 'cli.js'), 'serve', '--device', 'cuda', '--model', modelPath, '--port', '0'],
      { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`CHORI_DEVICE: model "model" .* failed to load: device 'cuda:0' is not usable here: ${expectedReason().source}`));
    const predict = spawnSync(process.execPath, [path.join(root, 'js', 'cli.js'), 'predict', '--device', 'cuda', '--model', modelPath, firstImage('.jpg')],
      { encoding: 'utf8', timeout: 60_000 });
    assert.equal(predict.status, 1, predict.stdout + predict.stderr);
    assert.match(predict.stderr, /CHORI_DEVICE: device 'cuda:0' is not usable here: /);
    assert.throws(() => require('../../js/server/options').fromArgv(['--device', 'gpu']),
      { code: 'CHORI_INVALID_ARGUMENT', message: /for --device but received "gpu"/ });
  });

test('the self-check names the device when a golden set recorded on a GPU is served on the CPU', async () => {
  const { selfCheck } = require('../../js/server/core/self-check');
  const os = require('node:os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chori-device-golden-'));
  const model = path.join(dir, 'model.pt');
  fs.copyFileSync(modelPath, model);
  const reference = JSON.parse(fs.readFileSync(path.join(root, 'export', 'golden.json'), 'utf8'));
  // As a GPU would give it: the same top-1, one logit a little off.
  const images = reference.images.slice(0, 2).map((r) => ({ ...r, logits: [...r.logits], data: fs.readFileSync(path.join(root, 'export', r.file)).toString('base64') }));
  images[0].logits[0] += Math.abs(images[0].logits[0]) * 1e-4;
  fs.writeFileSync(path.join(dir, 'model.golden.json'), JSON.stringify({ ...reference, device: 'cuda:0', images }));
  const cpu = await chori.load(model, { threads: 1 });
  try {
    const report = await selfCheck(cpu, { modelPath: model });
    assert.equal(report.status, 'top1', report.reason);
    assert.match(report.reason, /the set was recorded on cuda:0 and this server runs cpu: a GPU gives the CPU's top-1, not its bits/);
  } finally {
    await cpu.dispose();
  }
});
