'use strict';
// The public API against the real demo artifact and real image files.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const chori = require('chori-torch');
const { root, modelPath, exampleImages, firstImage } = require('./helpers');

test('load() reads the artifact metadata', async () => {
  const model = await chori.load(modelPath, { threads: 1 });
  assert.equal(model.path, modelPath);
  assert.deepEqual(model.labels, ['Not face', 'Face']);
  assert.equal(model.metadata.schemaVersion, 1);
  assert.equal(model.metadata.output.numClasses, 2);
  assert.equal(model.metadata.input.colorMode, 'RGB');
  assert.equal(model.metadata.input.exifOrientation, false);
  assert.ok(Object.isFrozen(model.metadata.input));
  await model.dispose();
  assert.equal(model.disposed, true);
});

test('predict() returns a well-formed prediction for every example image', async () => {
  const model = await chori.load(modelPath);
  const images = exampleImages();
  assert.ok(images.length >= 12, `expected at least 12 example images, found ${images.length}`);
  for (const file of images) {
    const r = await model.predict(fs.readFileSync(file), { topk: 2, logits: true });
    assert.ok(model.labels.includes(r.label), file);
    assert.equal(r.label, model.labels[r.index]);
    assert.equal(r.topk.length, 2);
    assert.deepEqual(r.topk[0], { label: r.label, index: r.index, score: r.score });
    assert.ok(r.topk[0].score >= r.topk[1].score);
    assert.ok(Math.abs(r.topk[0].score + r.topk[1].score - 1) < 1e-6, 'softmax scores sum to 1');
    assert.ok(r.logits instanceof Float32Array && r.logits.length === 2);
    // softmax is monotonic: the best score belongs to the largest logit.
    assert.equal(r.index, r.logits[0] >= r.logits[1] ? 0 : 1);
    for (const key of ['decodeMs', 'inferenceMs', 'totalMs']) assert.ok(r.timings[key] >= 0, key);
    assert.ok(r.timings.totalMs >= r.timings.inferenceMs);
  }
  await model.dispose();
});

test('the demo model recognises the example faces it was not trained on', async () => {
  const model = await chori.load(modelPath);
  let correct = 0;
  const images = exampleImages();
  for (const file of images) {
    const expected = /not_face/.test(file) ? 'Not face' : 'Face';
    if ((await model.predict(fs.readFileSync(file))).label === expected) correct += 1;
  }
  assert.ok(correct / images.length >= 0.75, `${correct}/${images.length} correct`);
  await model.dispose();
});

test('logits are only returned on request, and topk defaults to min(5, labels)', async () => {
  const model = await chori.load(modelPath);
  const r = await model.predict(fs.readFileSync(firstImage('.png')));
  assert.equal(r.logits, undefined);
  assert.equal(r.topk.length, 2);
  await model.dispose();
});

test('preprocess() exposes the model input with the metadata crop size', async () => {
  const model = await chori.load(modelPath);
  const t = await model.preprocess(fs.readFileSync(firstImage('.jpg')));
  const [h, w] = model.metadata.input.crop;
  assert.deepEqual(t.shape, [3, h, w]);
  assert.ok(t.data instanceof Float32Array);
  assert.equal(t.data.length, 3 * h * w);
  assert.ok(t.data.every(Number.isFinite));
  await model.dispose();
});

test('the same image gives the same answer, buffer reuse included', async () => {
  const model = await chori.load(modelPath);
  const bytes = fs.readFileSync(firstImage('.jpg'));
  const pending = model.predict(bytes, { logits: true });
  bytes.fill(0); // the addon copied the bytes before predict() returned
  const a = await pending;
  const b = await model.predict(fs.readFileSync(firstImage('.jpg')), { logits: true });
  assert.deepEqual(a.logits, b.logits);
  await model.dispose();
});

test('concurrent predictions all settle with the answers of sequential ones', async () => {
  const model = await chori.load(modelPath);
  const images = exampleImages().map((f) => fs.readFileSync(f));
  const sequential = [];
  for (const img of images) sequential.push((await model.predict(img, { logits: true })).logits);
  const concurrent = await Promise.all(images.map((img) => model.predict(img, { logits: true })));
  concurrent.forEach((r, i) => assert.deepEqual(r.logits, sequential[i]));
  await model.dispose();
});

test('chori.predict() uses CHORI_TORCH_MODEL, from the repository root by package name', () => {
  const file = firstImage('.jpg');
  const out = execFileSync(
    process.execPath,
    ['-e', "require('chori-torch').predict(require('fs').readFileSync(process.argv[1])).then(r => console.log(r.label, r.score))", file],
    { cwd: root, encoding: 'utf8', env: { ...process.env, CHORI_TORCH_MODEL: modelPath } },
  );
  assert.match(out, /^(Not face|Face) (0|1|0\.\d+)\n$/);
});

test('chori.predict() defaults to export/model.pt under the working directory', () => {
  const env = { ...process.env };
  delete env.CHORI_TORCH_MODEL;
  const out = execFileSync(
    process.execPath,
    ['-e', "const c = require('chori-torch'); console.log(c.defaultModelPath()); c.predict(require('fs').readFileSync(process.argv[1])).then(r => console.log(r.label))", firstImage('.png')],
    { cwd: root, encoding: 'utf8', env },
  );
  const [defaultPath, label] = out.trim().split('\n');
  assert.equal(defaultPath, modelPath);
  assert.match(label, /^(Not face|Face)$/);
});
