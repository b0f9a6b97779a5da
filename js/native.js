'use strict';
// Loads the compiled addon once, with an error that says how to build it when it is missing.

const path = require('node:path');
const { isMainThread } = require('node:worker_threads');
const { ChoriError, codes } = require('./errors');

const BINARY = path.join(__dirname, '..', 'addon', 'build', 'Release', 'chori_torch.node');
// What scripts/build-addon.js records beside it: the libtorch it chose and why.
const BUILD_STAMP = path.join(__dirname, '..', 'addon', 'build', 'chori-build.json');
const BUILD_COMMAND = 'npx chori-torch build';

let cached;

function native() {
  if (!cached) {
    try {
      cached = require(BINARY);
      // process.exit() runs libtorch's static destructors; no forward may still be running then.
      // (A worker thread's exit is not the process's: its models stop in the env cleanup hook.)
      if (isMainThread) process.once('exit', () => cached.closeAll());
    } catch (err) {
      const missing = err.code === 'MODULE_NOT_FOUND';
      throw new ChoriError(
        codes.ADDON_NOT_BUILT,
        `the chori-torch addon ${missing ? 'is not built' : 'could not be loaded'} (${BINARY}: ${err.message.split('\n')[0]}); ` +
          `build it with \`${BUILD_COMMAND}\` (installs made with --ignore-scripts skip the build; ` +
          '`npx chori-torch doctor` says what is missing)',
      );
    }
  }
  return cached;
}

module.exports = { native, BINARY, BUILD_STAMP, BUILD_COMMAND };
