'use strict';
// What chori-torch is made of, as sharp.versions says it: the package, the libtorch the addon
// was built against, the image libraries it runs with, and N-API. Read from the addon itself.

const { native } = require('./native');

const VERSION = require('../package.json').version;

// The image-library versions on which the parity suite (tests/python/test_parity.py and the
// corpus tests) was run and matched PIL bit for bit; others are expected to match but unchecked.
const CHECKED = Object.freeze({
  'libjpeg-turbo': ['2.1.5'],
  libpng: ['1.6.39'],
  libwebp: ['1.2.4', '1.6.0'],
  libavif: ['0.11.1'],
  libtiff: ['4.5.0'],
});

let cached;

/** { 'chori-torch', libtorch, 'libjpeg-turbo', libpng, libwebp, libavif, libtiff, napi }; loads the addon. */
function versions() {
  if (!cached) {
    const v = native().versions();
    cached = Object.freeze({
      'chori-torch': VERSION,
      libtorch: v.libtorch,
      'libjpeg-turbo': v.libjpegTurbo,
      libpng: v.libpng,
      libwebp: v.libwebp,
      libavif: v.libavif,
      libtiff: v.libtiff,
      napi: String(v.napi),
    });
  }
  return cached;
}

/** "2.14.1+cu130" → "2.14.1": a local build tag does not change the release. */
function torchRelease(version) {
  return String(version).split('+')[0];
}

module.exports = { versions, torchRelease, CHECKED, VERSION };
