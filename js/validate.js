'use strict';
// Argument checks at the door, as sharp does: tiny predicates and one error constructor, so
// native code only ever sees well-formed input and users get a sentence naming the parameter.

const { codes } = require('./errors');

const is = {
  defined: (v) => v !== undefined && v !== null,
  buffer: (v) => v instanceof Uint8Array,
  string: (v) => typeof v === 'string' && v.length > 0,
  bool: (v) => typeof v === 'boolean',
  integer: (v) => Number.isInteger(v),
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  inRange: (v, min, max) => v >= min && v <= max,
  plainObject: (v) => Object.prototype.toString.call(v) === '[object Object]',
};

function describe(value) {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `a ${value.constructor.name} of ${value.length} bytes`;
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** TypeError: "Expected <expected> for <name> but received <value> of type <type>". */
function invalidParameterError(name, expected, value) {
  const type = value === null ? 'null' : typeof value;
  const err = new TypeError(`Expected ${expected} for ${name} but received ${describe(value)} of type ${type}`);
  err.code = codes.INVALID_ARGUMENT;
  return err;
}

/** Checks that `options` holds only known keys; returns it (or {} for undefined). */
function options(value, name, known) {
  if (!is.defined(value)) return {};
  if (!is.plainObject(value)) throw invalidParameterError(name, 'an object', value);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw invalidParameterError(`${name}.${key}`, `one of the options ${known.join(', ')}`, key);
  }
  return value;
}

function rangeOption(kind, opts, name, key, min, max, fallback) {
  const value = opts[key];
  if (!is.defined(value)) return fallback;
  const ok = kind === 'integer' ? is.integer(value) : is.number(value);
  if (!ok || !is.inRange(value, min, max)) {
    throw invalidParameterError(`${name}.${key}`, `${kind === 'integer' ? 'an integer' : 'a number'} between ${min} and ${max}`, value);
  }
  return value;
}

const integerOption = (...args) => rangeOption('integer', ...args);
const numberOption = (...args) => rangeOption('number', ...args);

function boolOption(opts, name, key, fallback) {
  const value = opts[key];
  if (!is.defined(value)) return fallback;
  if (!is.bool(value)) throw invalidParameterError(`${name}.${key}`, 'a boolean', value);
  return value;
}

// The CUDA ordinals the addon accepts (model/device.cc): 'cuda' is 'cuda:0'.
const MAX_CUDA_INDEX = 1023;

/** 'cpu', 'cuda' or 'cuda:N'; returns 'cpu' or 'cuda:N'. */
function device(value, name) {
  if (value === 'cpu') return 'cpu';
  const match = typeof value === 'string' ? /^cuda(?::(0|[1-9][0-9]*))?$/.exec(value) : null;
  if (!match || Number(match[1] ?? 0) > MAX_CUDA_INDEX) {
    throw invalidParameterError(name, `'cpu', 'cuda' or 'cuda:N' (N from 0 to ${MAX_CUDA_INDEX})`, value);
  }
  return `cuda:${match[1] ?? 0}`;
}

/** opts[key] as device() reads it; 'cpu' when absent. */
function deviceOption(opts, name, key) {
  return is.defined(opts[key]) ? device(opts[key], `${name}.${key}`) : 'cpu';
}

function image(value, name = 'image') {
  if (!is.buffer(value)) throw invalidParameterError(name, 'a Buffer or Uint8Array of encoded image bytes', value);
  return value;
}

/** A preprocessed input { data: Float32Array, shape: [3, H, W] } with 3 × H × W values; → [H, W]. */
function tensor(value, name = 'tensor') {
  if (!is.defined(value) || typeof value !== 'object') throw invalidParameterError(name, 'an object { data, shape }', value);
  if (!(value.data instanceof Float32Array)) throw invalidParameterError(`${name}.data`, 'a Float32Array', value.data);
  const { shape } = value;
  const dims = Array.isArray(shape) && shape.length === 3 && shape.every((d) => is.integer(d) && d >= 1) && shape[0] === 3;
  if (!dims) throw invalidParameterError(`${name}.shape`, 'an array [3, height, width] of positive integers', Array.isArray(shape) ? `[${shape}]` : shape);
  if (value.data.length !== shape[0] * shape[1] * shape[2]) {
    const err = new TypeError(`Expected ${shape[0] * shape[1] * shape[2]} values (3 × ${shape[1]} × ${shape[2]}) for ${name}.data but received ${value.data.length}`);
    err.code = codes.INVALID_ARGUMENT;
    throw err;
  }
  return [shape[1], shape[2]];
}

module.exports = { is, invalidParameterError, options, integerOption, numberOption, boolOption, device, deviceOption, image, tensor };
