'use strict';
// chori.json validation in js/metadata.js, on documents built here rather than artifacts.

const test = require('node:test');
const assert = require('node:assert/strict');
const { parseMetadata, nativeSpec } = require('../../js/metadata');

function document(input = {}) {
  return JSON.stringify({
    schema_version: 1,
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
  assert.equal(nativeSpec(metadata, 1000).exifOrientation, false);
});

test('input.exif_orientation: true reaches the native spec', () => {
  const metadata = parseMetadata(document({ exif_orientation: true }), 'test');
  assert.equal(metadata.input.exifOrientation, true);
  assert.equal(nativeSpec(metadata, 1000).exifOrientation, true);
});

test('input.exif_orientation must be a boolean', () => {
  for (const bad of [null, 1, 'true']) {
    assert.throws(() => parseMetadata(document({ exif_orientation: bad }), 'test'), {
      code: 'CHORI_MODEL_METADATA',
      message: /input\.exif_orientation must be a boolean/,
    });
  }
});
