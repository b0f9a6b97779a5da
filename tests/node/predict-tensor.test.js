'use strict';
// Model.predictTensor: an input already preprocessed goes straight to the model (what the Open
// Inference Protocol's FP32 input uses), with the same answer as predict() on the image it came from.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const chori = require('chori-torch');
const { exampleImages, modelPath } = require('./helpers');

let model;
test.before(async () => {
  model = await chori.load(modelPath, { threads: 1 });
});
test.after(() => model.dispose());

const bits = (floats) => Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength);

test('predictTensor(preprocess(image)) is predict(image), logits bit for bit', async () => {
  assert.deepEqual(model.inputSize, [56, 56]);
  for (const file of exampleImages().slice(0, 4)) {
    const image = fs.readFileSync(file);
    const direct = await model.predict(image, { logits: true, topk: 2 });
    const tensor = await model.preprocess(image);
    const viaTensor = await model.predictTensor(tensor, { logits: true, topk: 2 });
    assert.ok(bits(viaTensor.logits).equals(bits(direct.logits)), file);
    assert.deepEqual(viaTensor.topk, direct.topk);
    assert.equal(viaTensor.timings.decodeMs, 0, 'nothing was decoded');
  }
});

test('predictTensor refuses a tensor of the wrong size or type, synchronously', () => {
  const refuse = (tensor, pattern) =>
    assert.throws(() => model.predictTensor(tensor), (err) => err.code === 'CHORI_INVALID_ARGUMENT' && pattern.test(err.message));
  refuse({ data: new Float32Array(3 * 10 * 10), shape: [3, 10, 10] }, /tensor.shape is \[3, 10, 10\] but this model takes \[3, 56, 56\]/);
  refuse({ data: new Float32Array(5), shape: [3, 56, 56] }, /Expected 9408 values .* but received 5/);
  refuse({ data: new Float64Array(3 * 56 * 56), shape: [3, 56, 56] }, /a Float32Array for tensor.data/);
  refuse({ data: new Float32Array(4 * 56 * 56), shape: [4, 56, 56] }, /\[3, height, width\]/);
  refuse(null, /an object \{ data, shape \}/);
});

test('predictTensor on a disposed model rejects with CHORI_DISPOSED', async () => {
  const other = await chori.load(modelPath, { threads: 1 });
  const tensor = await other.preprocess(fs.readFileSync(exampleImages()[0]));
  await other.dispose();
  await assert.rejects(other.predictTensor(tensor), { code: 'CHORI_DISPOSED' });
});
