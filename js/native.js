'use strict';
// Loads the compiled addon once, with an error that says how to build it when it is missing.

const path = require('node:path');
const { isMainThread } = require('node:worker_threads');
const { ChoriError, codes } = require('./errors');

const BINARY = path.join(__dirname, '..', 'addon', 'build', 'Release', 'chori_torch.node');

let cached;

function native() {
  if (!cached) {
    try {
      cached = require(BINARY);
      // process.exit() runs libtorch's static destructors; no forward may still be running then.
      // (A worker thread's exit is not the process's: its models stop in the env cleanup hook.)
      if (isMainThread) process.once('exit', () => cached.closeAll());
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
