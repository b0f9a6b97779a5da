'use strict';
// Every bad input gets a documented code, and the process lives on to answer the next call.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const crypto = require('node:crypto');
const chori = require('chori-torch');
const { modelPath, firstImage, tempFile } = require('./helpers');

let model;
test.before(async () => {
  model = await chori.load(modelPath, { threads: 1 });
});
test.after(() => model.dispose());

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof chori.ChoriError, `expected a ChoriError, got ${err}`);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.length > 10, 'the message says what was wrong');
    return true;
  });
}

test('a non-Buffer image throws a TypeError synchronously, naming the parameter', () => {
  for (const bad of [undefined, null, 'face.jpg', 42, {}, [1, 2, 3], new Float32Array(4)]) {
    assert.throws(() => model.predict(bad), (err) => {
      assert.ok(err instanceof TypeError);
      assert.equal(err.code, 'CHORI_INVALID_ARGUMENT');
      assert.match(err.message, /^Expected a Buffer or Uint8Array of encoded image bytes for image but received/);
      return true;
    });
  }
  assert.throws(() => chori.predict('x.jpg'), TypeError);
});

test('bad options are refused with a sentence', () => {
  const img = fs.readFileSync(firstImage('.jpg'));
  assert.throws(() => model.predict(img, { topk: 0 }), /Expected an integer between 1 and 2 for options.topk but received 0/);
  assert.throws(() => model.predict(img, { topk: 1.5 }), TypeError);
  assert.throws(() => model.predict(img, { logits: 'yes' }), /Expected a boolean for options.logits/);
  assert.throws(() => model.predict(img, { topK: 3 }), /options.topK/);
  assert.throws(() => model.predict(img, 'fast'), /Expected an object for options/);
});

test('an empty Buffer is CHORI_EMPTY_INPUT', () => rejectsWith(model.predict(Buffer.alloc(0)), 'CHORI_EMPTY_INPUT'));

test('random bytes are CHORI_UNSUPPORTED_FORMAT', async () => {
  for (let i = 0; i < 20; i += 1) {
    const bytes = crypto.randomBytes(1 + i * 97);
    bytes[0] = 0x00; // never a JPEG/PNG magic byte
    await rejectsWith(model.predict(bytes), 'CHORI_UNSUPPORTED_FORMAT');
  }
});

test('a text file named .jpg is CHORI_UNSUPPORTED_FORMAT (sniffed from bytes)', async () => {
  const file = tempFile('notes.jpg', 'These are not the pixels you are looking for.\n');
  await rejectsWith(model.predict(fs.readFileSync(file)), 'CHORI_UNSUPPORTED_FORMAT');
});

test('truncated JPEG and PNG files are CHORI_TRUNCATED, as PIL refuses them', async () => {
  for (const ext of ['.jpg', '.png']) {
    const bytes = fs.readFileSync(firstImage(ext));
    for (const fraction of [0.3, 0.6, 0.9]) {
      await rejectsWith(model.predict(bytes.subarray(0, Math.floor(bytes.length * fraction))), 'CHORI_TRUNCATED');
    }
  }
});

test('corrupt image data is rejected with a code, whatever the damage', async () => {
  const allowed = new Set(['CHORI_DECODE', 'CHORI_TRUNCATED', 'CHORI_UNSUPPORTED_FORMAT', 'CHORI_IMAGE_TOO_LARGE']);
  for (const ext of ['.jpg', '.png']) {
    const original = fs.readFileSync(firstImage(ext));
    for (let seed = 0; seed < 30; seed += 1) {
      const bytes = Buffer.from(original);
      // Flip bytes past the signature: headers, tables and entropy-coded data all get hit.
      for (let j = 0; j < 8; j += 1) bytes[8 + ((seed * 7919 + j * 104729) % (bytes.length - 8))] ^= 0x5a;
      try {
        const r = await model.predict(bytes);
        assert.ok(chori.version && r.label, 'a damaged file that still decodes gives a normal prediction');
      } catch (err) {
        assert.ok(allowed.has(err.code), `${err.code}: ${err.message}`);
      }
    }
  }
});

test('an image over maxPixels is CHORI_IMAGE_TOO_LARGE, checked before decoding', async () => {
  const small = await chori.load(modelPath, { maxPixels: 50 });
  await rejectsWith(small.predict(fs.readFileSync(firstImage('.png'))), 'CHORI_IMAGE_TOO_LARGE');
  await small.dispose();
});

test('a missing model file is CHORI_MODEL_LOAD', () =>
  rejectsWith(chori.load('/nonexistent/model.pt'), 'CHORI_MODEL_LOAD'));

test('a corrupt model file is CHORI_MODEL_LOAD', async () => {
  await rejectsWith(chori.load(tempFile('random.pt', crypto.randomBytes(4096))), 'CHORI_MODEL_LOAD');
  const artifact = fs.readFileSync(modelPath);
  await rejectsWith(chori.load(tempFile('cut.pt', artifact.subarray(0, artifact.length >> 1))), 'CHORI_MODEL_LOAD');
  await rejectsWith(chori.load(tempFile('empty.pt', Buffer.alloc(0))), 'CHORI_MODEL_LOAD');
});

test('load() validates its arguments', async () => {
  await assert.rejects(chori.load(''), TypeError);
  await assert.rejects(chori.load(modelPath, { threads: 0 }), /options.threads/);
  await assert.rejects(chori.load(modelPath, { gpu: true }), /options.gpu/);
});

test('a disposed model rejects with CHORI_DISPOSED, and dispose is idempotent', async () => {
  const m = await chori.load(modelPath);
  const img = fs.readFileSync(firstImage('.jpg'));
  const inFlight = m.predict(img).then(
    (r) => r.label,
    (err) => err.code,
  );
  await m.dispose();
  await m.dispose();
  assert.match(await inFlight, /^(Face|Not face|CHORI_DISPOSED)$/, 'a call made before dispose() settles');
  await rejectsWith(m.predict(img), 'CHORI_DISPOSED');
  await rejectsWith(m.preprocess(img), 'CHORI_DISPOSED');
});

test('after all of the above, the process still classifies images', async () => {
  const r = await model.predict(fs.readFileSync(firstImage('.jpg')));
  assert.ok(model.labels.includes(r.label));
});
