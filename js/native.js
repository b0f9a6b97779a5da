'use strict';
// Loads the compiled addon once, with an error that says how to build it when it is missing.

const path = require('node:path');
const { ChoriError, codes } = require('./errors');

const BINARY = path.join(__dirname, '..', 'addon', 'build', 'Release', 'chori_torch.node');

let cached;

function native() {
  if (!cached) {
    try {
      cached = require(BINARY);
    } catch (err) {
      throw new ChoriError(
        codes.ADDON_NOT_BUILT,
        `the chori-torch addon could not be loaded from ${BINARY} (${err.message.split('\n')[0]}); ` +
          'build it with `make setup` or `npm run build`',
      );
    }
  }
  return cached;
}

module.exports = { native };
