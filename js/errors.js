'use strict';
// Every error chori-torch reports carries a stable `code` (docs/ARCHITECTURE.md lists them);
// the messages are for people, the codes for programs.

const codes = Object.freeze({
  INVALID_ARGUMENT: 'CHORI_INVALID_ARGUMENT',
  EMPTY_INPUT: 'CHORI_EMPTY_INPUT',
  DECODE: 'CHORI_DECODE',
  TRUNCATED: 'CHORI_TRUNCATED',
  UNSUPPORTED_FORMAT: 'CHORI_UNSUPPORTED_FORMAT',
  IMAGE_TOO_LARGE: 'CHORI_IMAGE_TOO_LARGE',
  MODEL_LOAD: 'CHORI_MODEL_LOAD',
  MODEL_METADATA: 'CHORI_MODEL_METADATA',
  INFERENCE: 'CHORI_INFERENCE',
  DEVICE: 'CHORI_DEVICE',
  DISPOSED: 'CHORI_DISPOSED',
  OVERLOADED: 'CHORI_OVERLOADED',
  ADDON_NOT_BUILT: 'CHORI_ADDON_NOT_BUILT',
  INTERNAL: 'CHORI_INTERNAL',
});

class ChoriError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'ChoriError';
    this.code = code;
  }
}

/** Native rejections carry a `code`; rebuild them as ChoriError so `instanceof` holds. */
function fromNative(err) {
  if (err instanceof ChoriError || typeof err?.code !== 'string' || !err.code.startsWith('CHORI_')) return err;
  return new ChoriError(err.code, err.message);
}

module.exports = { ChoriError, codes, fromNative };
