'use strict';
// Parses and validates the artifact's embedded chori.json (schema in docs/ARCHITECTURE.md).
// Every problem becomes CHORI_MODEL_METADATA with the path of the offending field.

const { ChoriError, codes } = require('./errors');
const { is } = require('./validate');

const SCHEMA_VERSION = 1;
const INTERPOLATIONS = ['nearest', 'bilinear', 'bicubic', 'box', 'hamming', 'lanczos'];
const OUTPUT_KINDS = ['logits', 'probabilities'];

function fail(source, message) {
  return new ChoriError(codes.MODEL_METADATA, `invalid chori.json in ${source}: ${message}`);
}

function positiveInts(value, lengths) {
  return Array.isArray(value) && lengths.includes(value.length) && value.every((v) => is.integer(v) && v > 0);
}

function parseMetadata(text, source) {
  let raw;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw fail(source, `not JSON (${err.message})`);
  }
  const check = (ok, message) => {
    if (!ok) throw fail(source, message);
  };
  check(is.plainObject(raw), 'expected a JSON object');
  check(raw.schema_version === SCHEMA_VERSION,
    `schema_version is ${JSON.stringify(raw.schema_version)}; this chori-torch reads version ${SCHEMA_VERSION}`);

  const { labels, input, output } = raw;
  check(Array.isArray(labels) && labels.length > 0 && labels.every(is.string), 'labels must be a non-empty array of strings');
  check(is.plainObject(input), 'input must be an object');
  check(input.color_mode === 'RGB', `input.color_mode must be "RGB", not ${JSON.stringify(input.color_mode)}`);
  check(input.resize === null || positiveInts(input.resize, [1, 2]), 'input.resize must be null, [size] or [height, width]');
  const maxSize = input.max_size ?? null;
  check(maxSize === null || (is.integer(maxSize) && input.resize?.length === 1 && maxSize > input.resize[0]),
    'input.max_size must be null, or an integer larger than input.resize[0] when resize is [size]');
  check(input.crop === null || positiveInts(input.crop, [2]), 'input.crop must be null or [height, width]');
  check(INTERPOLATIONS.includes(input.interpolation), `input.interpolation must be one of ${INTERPOLATIONS.join(', ')}`);
  for (const key of ['mean', 'std']) {
    check(Array.isArray(input[key]) && input[key].length === 3 && input[key].every(is.number), `input.${key} must hold 3 numbers`);
  }
  check(input.std.every((v) => v !== 0), 'input.std must not contain 0');
  // Absent in artifacts written before the field existed: false, PIL's Image.open behaviour.
  const exifOrientation = 'exif_orientation' in input ? input.exif_orientation : false;
  check(is.bool(exifOrientation), 'input.exif_orientation must be a boolean');
  check(is.plainObject(output) && OUTPUT_KINDS.includes(output.kind), `output.kind must be one of ${OUTPUT_KINDS.join(', ')}`);
  check(output.num_classes === labels.length,
    `output.num_classes (${output.num_classes}) does not match the ${labels.length} labels`);

  return deepFreeze({
    schemaVersion: raw.schema_version,
    labels: [...labels],
    input: {
      colorMode: input.color_mode,
      resize: input.resize && [...input.resize],
      maxSize,
      crop: input.crop && [...input.crop],
      interpolation: input.interpolation,
      mean: [...input.mean],
      std: [...input.std],
      exifOrientation,
    },
    output: { kind: output.kind, numClasses: output.num_classes },
    provenance: is.plainObject(raw.provenance) ? { ...raw.provenance } : {},
  });
}

/** The spec the native Classifier is configured with. */
function nativeSpec(metadata, maxPixels) {
  const { input, output } = metadata;
  return {
    resize: input.resize ?? [],
    maxSize: input.maxSize,
    crop: input.crop,
    interpolation: input.interpolation,
    mean: input.mean,
    std: input.std,
    exifOrientation: input.exifOrientation,
    numClasses: output.numClasses,
    outputsAreProbabilities: output.kind === 'probabilities',
    maxPixels,
  };
}

/** The input spec with chori.json's own field names, as the server's GET /models shows it. */
function artifactInput(input) {
  return {
    color_mode: input.colorMode,
    resize: input.resize,
    max_size: input.maxSize,
    crop: input.crop,
    interpolation: input.interpolation,
    mean: input.mean,
    std: input.std,
    exif_orientation: input.exifOrientation,
  };
}

function deepFreeze(value) {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

module.exports = { parseMetadata, nativeSpec, artifactInput, SCHEMA_VERSION, INTERPOLATIONS };
