'use strict';
// chori-torch: serve a PyTorch image classifier from Node.js.
//   const chori = require('chori-torch');
//   const { label, score } = await chori.predict(buffer);

const path = require('node:path');
const { ChoriError, codes } = require('./errors');
const { Model, load } = require('./model');
const validate = require('./validate');

let defaultModel;

/** The model predict() uses: $CHORI_TORCH_MODEL, else export/model.pt under the working directory. */
function defaultModelPath() {
  return path.resolve(process.env.CHORI_TORCH_MODEL || path.join('export', 'model.pt'));
}

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
  version: require('../package.json').version,
  /** The resampler's vector path, { active, available } (docs/ARCHITECTURE.md, $CHORI_SIMD). */
  simd: () => require('./native').native().simd(),
};
