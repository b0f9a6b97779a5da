'use strict';
// Dynamic batching, lifecycle under load and the event loop, with the real addon and model.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const chori = require('chori-torch');
const { modelPath, exampleImages } = require('./helpers');

const images = () => exampleImages().map((f) => fs.readFileSync(f));

// oneDNN chooses convolution kernels by batch size, so a row computed in a batch of 8 can
// differ from the same image computed alone in the last bits (measured: up to ~1e-6 on resnet18
// with random weights, ~5e-8 on the demo model). Hence batching is opt-in, and:
//  - a call whose batch held only itself is bit-identical to an unbatched call;
//  - a batched row stays within BATCH_TOLERANCE of it, with the same ranking.
const BATCH_TOLERANCE = 1e-5;

test('batched predictions match unbatched ones (bit for bit at batch size 1)', async () => {
  const single = await chori.load(modelPath);
  const batched = await chori.load(modelPath, { batch: true, maxBatch: 8, maxDelayMs: 50 });
  const inputs = [...images(), ...images()];
  const expected = [];
  for (const img of inputs) {
    const r = await single.predict(img, { logits: true });
    assert.equal(r.batchSize, 1, 'batching is off by default');
    expected.push(r);
  }
  const got = await batched.predictBatch(inputs, { logits: true });
  assert.ok(Math.max(...got.map((r) => r.batchSize)) > 1, 'concurrent calls shared a forward pass');
  const alone = await batched.predict(inputs[0], { logits: true });
  assert.equal(alone.batchSize, 1);
  assert.deepEqual(alone.logits, expected[0].logits);
  got.forEach((r, i) => {
    assert.equal(r.index, expected[i].index, `image ${i}`);
    const delta = Math.max(...r.logits.map((v, j) => Math.abs(v - expected[i].logits[j])));
    assert.ok(delta <= BATCH_TOLERANCE, `image ${i}: |Δlogit| ${delta} in a batch of ${r.batchSize}`);
  });
  await Promise.all([single.dispose(), batched.dispose()]);
});

test('a lone call does not wait for companions', async () => {
  const m = await chori.load(modelPath, { batch: true, maxDelayMs: 1000 });
  const img = images()[0];
  await m.predict(img); // warm-up
  const started = performance.now();
  const r = await m.predict(img);
  assert.equal(r.batchSize, 1);
  assert.ok(performance.now() - started < 500, 'the 1 s batching delay was not applied to a lone call');
  await m.dispose();
});

test('dispose() under load settles every promise: completed or CHORI_DISPOSED', async () => {
  const m = await chori.load(modelPath);
  const inputs = images();
  const calls = Array.from({ length: 64 }, (_, i) => m.predict(inputs[i % inputs.length]));
  const settled = Promise.allSettled(calls);
  await new Promise((resolve) => setImmediate(resolve));
  await m.dispose();
  const outcomes = await settled;
  let done = 0;
  for (const o of outcomes) {
    if (o.status === 'fulfilled') done += 1;
    else assert.equal(o.reason.code, 'CHORI_DISPOSED', o.reason.message);
  }
  assert.equal(outcomes.length, 64);
  assert.ok(done < 64, 'dispose() stopped the queued calls');
  await assert.rejects(m.predict(inputs[0]), { code: 'CHORI_DISPOSED' });
});

test('calls over maxQueue reject with CHORI_OVERLOADED; accepted ones complete', async () => {
  const m = await chori.load(modelPath, { maxQueue: 4 });
  const img = images()[0];
  const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => m.predict(img)));
  const ok = outcomes.filter((o) => o.status === 'fulfilled');
  const refused = outcomes.filter((o) => o.status === 'rejected');
  assert.equal(ok.length, 4);
  for (const o of refused) assert.equal(o.reason.code, 'CHORI_OVERLOADED');
  assert.ok((await m.predict(img)).label, 'the queue drains and accepts calls again');
  await m.dispose();
});

test('the event loop stays free while predictions run', async () => {
  const m = await chori.load(modelPath);
  const inputs = images();
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  let ticks = 0;
  const timer = setInterval(() => {
    ticks += 1;
  }, 5);
  histogram.enable();
  const started = performance.now();
  await Promise.all(Array.from({ length: 400 }, (_, i) => m.predict(inputs[i % inputs.length])));
  const elapsed = performance.now() - started;
  histogram.disable();
  clearInterval(timer);
  const p99 = histogram.percentile(99) / 1e6;
  // A 5 ms timer fires throughout; the loop is never blocked for long (generous bound for CI).
  assert.ok(p99 < 50, `event-loop delay p99 ${p99.toFixed(1)} ms`);
  assert.ok(ticks >= Math.floor(elapsed / 5 / 4), `${ticks} timer ticks in ${elapsed.toFixed(0)} ms`);
  await m.dispose();
});

test('several workers answer what one does, bit for bit, and dispose() settles them all', async () => {
  const one = await chori.load(modelPath, { threads: 1 });
  const two = await chori.load(modelPath, { workers: 2, threads: 1 });
  assert.equal(two.info.workers, 2);
  assert.equal(two.info.threads, 1);
  const inputs = [...images(), ...images(), ...images()];
  const expected = [];
  for (const img of inputs) expected.push((await one.predict(img, { logits: true })).logits);
  const got = await Promise.all(inputs.map((img) => two.predict(img, { logits: true })));
  got.forEach((r, i) => assert.deepEqual(r.logits, expected[i], `image ${i}`));

  const calls = Array.from({ length: 64 }, (_, i) => two.predict(inputs[i % inputs.length]));
  const settled = Promise.allSettled(calls);
  await new Promise((resolve) => setImmediate(resolve));
  await two.dispose();
  for (const o of await settled) {
    if (o.status === 'rejected') assert.equal(o.reason.code, 'CHORI_DISPOSED', o.reason.message);
  }
  await one.dispose();
});

test('workers share the cores: threads defaults to cores / workers', async () => {
  const cores = require('node:os').availableParallelism();
  const m = await chori.load(modelPath, { workers: 2 });
  assert.equal(m.info.threads, Math.max(1, Math.floor(cores / 2)));
  await m.dispose();
  for (const workers of [0, 65, 1.5, '2']) {
    await assert.rejects(chori.load(modelPath, { workers }), { code: 'CHORI_INVALID_ARGUMENT', message: /options\.workers/ });
  }
});

test('batching options are validated', async () => {
  await assert.rejects(chori.load(modelPath, { maxBatch: 0 }), /options.maxBatch/);
  await assert.rejects(chori.load(modelPath, { maxDelayMs: -1 }), /options.maxDelayMs/);
  await assert.rejects(chori.load(modelPath, { maxQueue: 1.5 }), /options.maxQueue/);
  await assert.rejects(chori.load(modelPath, { batch: 'yes' }), /options.batch/);
});

test('load/predict/dispose cycles with garbage collection never crash the process', () => {
  // Exercises the teardown order of a model's thread-safe function, its native model and the
  // calls in flight (a use-after-free there once crashed about one run in five).
  const script = `
    const chori = require('chori-torch');
    const img = require('fs').readFileSync(process.argv[1]);
    (async () => {
      for (let i = 0; i < 150; i += 1) {
        const m = await chori.load(process.argv[2], { maxQueue: 4, batch: i % 2 === 0 });
        const calls = Array.from({ length: 12 }, () => m.predict(img).catch((e) => e.code));
        if (i % 3 === 0) await m.dispose();
        await Promise.all(calls);
        if (i % 3 !== 0) await m.dispose();
        global.gc();
      }
      console.log('survived');
    })();`;
  const { spawnSync } = require('node:child_process');
  const run = spawnSync(process.execPath, ['--expose-gc', '-e', script, exampleImages()[0], modelPath], {
    encoding: 'utf8',
    cwd: require('./helpers').root,
  });
  assert.equal(run.signal, null, `the process died with ${run.signal}`);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), 'survived');
});

test('process.exit() with predictions in flight exits cleanly', () => {
  // exit() runs libtorch's static destructors; the inference threads must be stopped first.
  const script = `
    const chori = require('chori-torch');
    const img = require('fs').readFileSync(process.argv[1]);
    chori.load(process.argv[2], { batch: true }).then((m) => {
      for (let i = 0; i < 64; i += 1) m.predict(img).catch(() => {});
      setTimeout(() => process.exit(7), Number(process.argv[3]));
    });`;
  const { spawnSync } = require('node:child_process');
  for (const delayMs of [0, 1, 2, 3, 5, 8]) {
    const run = spawnSync(process.execPath, ['-e', script, exampleImages()[0], modelPath, String(delayMs)], {
      encoding: 'utf8',
      cwd: require('./helpers').root,
    });
    assert.equal(run.signal, null, `exit after ${delayMs} ms died with ${run.signal}`);
    assert.equal(run.status, 7, run.stderr);
  }
});

test('the default parallelism: adaptive for onednn, one forward per core for other forms, fixed once named', async () => {
  const cores = require('node:os').availableParallelism();
  const byDefault = await chori.load(modelPath);
  const perCore = await chori.load(modelPath, { optimize: 'none' });
  const named = await chori.load(modelPath, { threads: 1 });
  const pick = ({ adaptive, workers, threads }) => ({ adaptive, workers, threads });
  assert.deepEqual(pick(byDefault.info), { adaptive: true, workers: cores, threads: cores });
  assert.deepEqual(pick(perCore.info), { adaptive: false, workers: cores, threads: 1 });
  assert.deepEqual(pick(named.info), { adaptive: false, workers: 1, threads: 1 });
  // Many calls in flight and one alone: the same bits as the fixed single-threaded model.
  const inputs = [...images(), ...images()];
  const expected = [];
  for (const img of inputs) expected.push((await named.predict(img, { logits: true })).logits);
  const burst = await Promise.all(inputs.map((img) => byDefault.predict(img, { logits: true })));
  const alone = await byDefault.predict(inputs[0], { logits: true });
  burst.forEach((r, i) => assert.deepEqual(r.logits, expected[i], `image ${i} in a burst`));
  assert.deepEqual(alone.logits, expected[0]);
  await Promise.all([byDefault.dispose(), perCore.dispose(), named.dispose()]);
});
