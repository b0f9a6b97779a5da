'use strict';
// chori-torch: serve a PyTorch image classifier from Node.js.
//   const chori = require('chori-torch');
//   const { label, score } = await chori.predict(buffer);

const { ChoriError, codes } = require('./errors');
const { Model, load, defaultModelPath } = require('./model');
const validate = require('./validate');
const { VERSION } = require('./versions');

let defaultModel;

/** Classifies an image with the default model, loaded once on first use. */
function predict(image, options) {
  validate.image(image);
  if (!defaultModel) {
    defaultModel = load(defaultModelPath());
    // A failed load is not cached: the next call tries again (the file may appear later).
    defaultModel.catch(() => {
      defaultModel = undefined;
    });
  }
  return defaultModel.then((model) => model.predict(image, options));
}

/** Starts the HTTP server (js/server/, docs/SERVING.md); loaded on first use. */
function serve(options) {
  return require('./server').serve(options);
}

module.exports = {
  load,
  predict,
  serve,
  defaultModelPath,
  Model,
  ChoriError,
  codes,
  version: VERSION,
  /** chori-torch, libtorch, libjpeg-turbo, libpng, libwebp and N-API versions (loads the addon). */
  get versions() {
    return require('./versions').versions();
  },
  /** The resampler's vector path, { active, available } (docs/ARCHITECTURE.md, $CHORI_SIMD). */
  simd: () => require('./native').native().simd(),
  /** The CUDA devices the NVIDIA driver reports, or why there are none (js/gpus.js; loads the addon). */
  gpus: () => require('./gpus').gpus(),
};
