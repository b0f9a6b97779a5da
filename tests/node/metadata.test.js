'use strict';
// chori.json validation in js/metadata.js, on documents built here rather than artifacts.

const test = require('node:test');
const assert = require('node:assert/strict');
const { parseMetadata } = require('../../js/metadata');

function document(input = {}, schemaVersion = 1) {
  return JSON.stringify({
    schema_version: schemaVersion,
    labels: ['a', 'b'],
    input: {
      color_mode: 'RGB',
      resize: [256],
      max_size: null,
      crop: [224, 224],
      interpolation: 'bilinear',
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      ...input,
    },
    output: { kind: 'logits', num_classes: 2 },
  });
}

test('input.exif_orientation: absent means false, as in artifacts that predate it', () => {
  const metadata = parseMetadata(document(), 'test');
  assert.equal(metadata.input.exifOrientation, false);
});

test('input.exif_orientation: true is read', () => {
  const metadata = parseMetadata(document({ exif_orientation: true }), 'test');
  assert.equal(metadata.input.exifOrientation, true);
});

test('input.exif_orientation must be a boolean', () => {
  for (const bad of [null, 1, 'true']) {
    assert.throws(() => parseMetadata(document({ exif_orientation: bad }), 'test'), {
      code: 'CHORI_MODEL_METADATA',
      message: /input\.exif_orientation must be a boolean/,
    });
  }
});

const FASTAI = { resize: null, crop: null, fastai_resize: { size: [48, 64], method: 'pad', pad_mode: 'reflection' } };

test('input.fastai_resize (schema 2) replaces resize and crop', () => {
  const metadata = parseMetadata(document(FASTAI, 2), 'test');
  assert.deepEqual(metadata.input.fastaiResize, { size: [48, 64], method: 'pad', padMode: 'reflection' });
  assert.equal(parseMetadata(document(), 'test').input.fastaiResize, null);
  assert.equal(parseMetadata(document({}, 2), 'test').input.fastaiResize, null, 'schema 2 without it is a torchvision spec');
});

test('input.fastai_resize is checked field by field', () => {
  const fastai = (patch) => ({ ...FASTAI, fastai_resize: { ...FASTAI.fastai_resize, ...patch } });
  for (const [input, version, message] of [
    [FASTAI, 1, /needs schema_version 2/],
    [{ ...FASTAI, crop: [224, 224] }, 2, /replaces resize, max_size and crop/],
    [fastai({ size: [64] }), 2, /fastai_resize\.size must be \[height, width\]/],
    [fastai({ method: 'fit' }), 2, /method must be one of crop, squish, pad/],
    [fastai({ pad_mode: 'symmetric' }), 2, /pad_mode must be one of zeros, border, reflection/],
  ]) {
    assert.throws(() => parseMetadata(document(input, version), 'test'), { code: 'CHORI_MODEL_METADATA', message });
  }
  assert.throws(() => parseMetadata(document({}, 3), 'test'), { code: 'CHORI_MODEL_METADATA', message: /reads versions 1 and 2/ });
});
