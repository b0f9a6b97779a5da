'use strict';
// The native load(path, options): one call, one options object, typed on the native side too,
// and what it resolves is what load() reports. (tests/python/test_node_load.py checks that an
// artifact recording bf16 is read once, and that the native chori.json checks say what
// js/metadata.js says.)

const test = require('node:test');
const assert = require('node:assert/strict');
const os = require('node:os');
const chori = require('chori-torch');
const fs = require('node:fs');
const { modelPath, exampleImages } = require('./helpers');
const { native } = require('../../js/native');

test('the native load() checks every option type itself, naming the option (CHORI_INVALID_ARGUMENT)', () => {
  const cases = [
    [{ threads: '2' }, 'options.threads must be a number, not "2"'],
    [{ threads: 1.5 }, 'options.threads must be an integer, not 1.5'],
    [{ workers: true }, 'options.workers must be a number, not true'],
    [{ precision: 16 }, 'options.precision must be a string, not 16'],
    [{ precision: 'fp16' }, "options.precision must be fp32 or bf16, not 'fp16'"],
    [{ batch: 1 }, 'options.batch must be a boolean, not 1'],
    [{ maxPixels: 0 }, 'options.maxPixels must be at least 1'],
    [{ device: [] }, 'options.device must be a string, not an array'],
    [{ speed: 'fast' }, 'options.speed is not a load option (threads, workers, maxPixels, precision, optimize, batch, maxBatch, maxDelayMs, maxQueue, device, deterministic)'],
    ['fast', 'options must be an object, not "fast"'],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => native().load(modelPath, options), { code: 'CHORI_INVALID_ARGUMENT', message }, JSON.stringify(options));
  }
  assert.throws(() => native().load(42, {}), { code: 'CHORI_INVALID_ARGUMENT', message: 'load(path, options) needs a string path' });
});

test('a value of the right type but out of range rejects with the core\'s message', async () => {
  await assert.rejects(native().load(modelPath, { workers: 65 }), { code: 'CHORI_INVALID_ARGUMENT', message: 'workers must be between 1 and 64, not 65' });
  await assert.rejects(native().load(modelPath, { optimize: 'fast' }), { code: 'CHORI_INVALID_ARGUMENT', message: "optimize must be one of auto, none, freeze, ofi, onednn, not 'fast'" });
});

test('one call resolves the model, model.info and the warnings; load() reports them unchanged', async () => {
  const options = { threads: 1, workers: 2, batch: true, maxBatch: 4, maxDelayMs: 2, maxQueue: 8 };
  const loaded = await native().load(modelPath, options);
  try {
    assert.deepEqual(Object.keys(loaded).sort(), ['info', 'model', 'warnings']);
    assert.equal(typeof loaded.model.predict, 'function');
    assert.equal(loaded.model.configure, undefined, 'configure() and optimize() are gone: load() did both');
    assert.equal(loaded.model.optimize, undefined);
    assert.ok(Array.isArray(loaded.warnings));
    const model = await chori.load(modelPath, options);
    try {
      const { optimizeMs, warmupMs, ...rest } = loaded.info;
      const { optimizeMs: o2, warmupMs: w2, ...same } = model.info;
      assert.deepEqual(same, rest);
      assert.ok(optimizeMs >= 0 && warmupMs >= 0 && o2 >= 0 && w2 >= 0);
      assert.deepEqual(rest, {
        format: 'torchscript',
        optimize: 'onednn',
        requestedOptimize: 'auto',
        warmupRuns: 3,
        threads: 1,
        workers: 2,
        adaptive: false,
        precision: 'fp32',
        maxBatch: 4,
        device: 'cpu',
        deterministic: false,
      });
      assert.deepEqual(model.warnings, loaded.warnings.map((w) => w.message));
    } finally {
      await model.dispose();
    }
  } finally {
    await loaded.model.dispose();
  }
});

test('with neither workers nor threads, the native side picks the parallelism from the cores', async () => {
  const model = await chori.load(modelPath);
  try {
    const cores = os.availableParallelism();
    assert.equal(model.info.workers, cores);
    // The demo model's 'auto' form is onednn: adaptive when there is more than one core.
    assert.equal(model.info.adaptive, cores > 1);
    assert.equal(model.info.threads, cores > 1 ? cores : 1);
  } finally {
    await model.dispose();
  }
});

test('under the adaptive scheduler lone forwards all run on one inference thread: one OpenMP team', { skip: (os.availableParallelism() < 2 || process.platform !== 'linux') && 'needs 2 cores and /proc' }, async () => {
  // libgomp gives each thread that opens a parallel region its own team, and once it manages more
  // threads than there are cores it throttles every team's spinning, which made lone forwards
  // about 1.8x slower (docs/ARCHITECTURE.md, "Adaptive parallelism"). A second team shows as
  // threads started after the model was ready: loading already ran the warm-up on all cores.
  const threads = () => fs.readdirSync('/proc/self/task').length;
  const model = await chori.load(modelPath);
  try {
    assert.equal(model.info.adaptive, true);
    const images = exampleImages().map((f) => fs.readFileSync(f));
    await model.predict(images[0]);
    const ready = threads();
    for (let i = 0; i < 40; i++) await model.predict(images[i % images.length]);
    assert.equal(threads(), ready, 'lone forwards started new threads: another inference thread opened its own OpenMP team');
  } finally {
    await model.dispose();
  }
});
