'use strict';
// Parses and validates the artifact's embedded chori.json (schema in docs/ARCHITECTURE.md) into
// `model.metadata`. Every problem becomes CHORI_MODEL_METADATA with the path of the offending
// field. The addon has read the same file natively to load the model (addon/src/model/metadata.cc:
// the same checks and messages), so in load() a problem is reported from there first.

const { ChoriError, codes } = require('./errors');
const { is } = require('./validate');

// 2 adds input.fastai_resize; a file without it may say 1 (every artifact written before).
const SCHEMA_VERSIONS = [1, 2];
const RESIZE_METHODS = ['crop', 'squish', 'pad'];
const PAD_MODES = ['zeros', 'border', 'reflection'];
const INTERPOLATIONS = ['nearest', 'bilinear', 'bicubic', 'box', 'hamming', 'lanczos'];
const OUTPUT_KINDS = ['logits', 'probabilities'];
const PRECISIONS = ['fp32', 'bf16'];

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
  check(SCHEMA_VERSIONS.includes(raw.schema_version),
    `schema_version is ${JSON.stringify(raw.schema_version)}; this chori-torch reads versions ${SCHEMA_VERSIONS.join(' and ')}`);

  const { labels, input, output } = raw;
  check(Array.isArray(labels) && labels.length > 0 && labels.every(is.string), 'labels must be a non-empty array of strings');
  check(is.plainObject(input), 'input must be an object');
  check(input.color_mode === 'RGB', `input.color_mode must be "RGB", not ${JSON.stringify(input.color_mode)}`);
  check(input.resize === null || positiveInts(input.resize, [1, 2]), 'input.resize must be null, [size] or [height, width]');
  const maxSize = input.max_size ?? null;
  check(maxSize === null || (is.integer(maxSize) && input.resize?.length === 1 && maxSize > input.resize[0]),
    'input.max_size must be null, or an integer larger than input.resize[0] when resize is [size]');
  check(input.crop === null || positiveInts(input.crop, [2]), 'input.crop must be null or [height, width]');
  const fastai = parseFastaiResize(input, raw.schema_version, check);
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
  // Optional (absent: fp32): the precision load() runs in when its caller names none.
  const precision = raw.precision ?? 'fp32';
  check(PRECISIONS.includes(precision), `precision must be one of ${PRECISIONS.join(', ')}`);

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
      fastaiResize: fastai,
    },
    output: { kind: output.kind, numClasses: output.num_classes },
    provenance: is.plainObject(raw.provenance) ? { ...raw.provenance } : {},
    precision,
  });
}

// fastai's Resize (its size, crop/squish/pad and padding mode), in place of resize and crop.
function parseFastaiResize(input, schemaVersion, check) {
  const f = input.fastai_resize ?? null;
  if (f === null) return null;
  check(schemaVersion === 2, 'input.fastai_resize needs schema_version 2');
  check(is.plainObject(f) && positiveInts(f.size, [2]), 'input.fastai_resize.size must be [height, width]');
  check(input.resize === null && (input.max_size ?? null) === null && input.crop === null,
    'input.fastai_resize replaces resize, max_size and crop, which must be null');
  check(RESIZE_METHODS.includes(f.method), `input.fastai_resize.method must be one of ${RESIZE_METHODS.join(', ')}`);
  check(PAD_MODES.includes(f.pad_mode), `input.fastai_resize.pad_mode must be one of ${PAD_MODES.join(', ')}`);
  return { size: [...f.size], method: f.method, padMode: f.pad_mode };
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
    ...(input.fastaiResize && {
      fastai_resize: { size: input.fastaiResize.size, method: input.fastaiResize.method, pad_mode: input.fastaiResize.padMode },
    }),
  };
}

function deepFreeze(value) {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

module.exports = { parseMetadata, artifactInput, SCHEMA_VERSIONS, INTERPOLATIONS };
