'use strict';
// The Open Inference Protocol's semantics, shared by its REST (oip-rest.js) and gRPC
// (oip-grpc.js) adapters: server and model metadata, the inputs a request may carry, and the
// outputs an answer holds. Tensors here are wire-neutral:
//   input:  { name, datatype, shape: number[], elements?: Buffer[] (BYTES), floats?: Float32Array (FP32) }
//   output: { name, datatype, shape: number[], elements?: Buffer[] (BYTES), floats?: Float32Array (FP32) }
// Everything a client gets wrong is CHORI_BAD_REQUEST, naming the input or output.

const { ServerError, serverCodes, badRequest, classify } = require('../core/errors');
const { version } = require('../../../package.json');

/** The two inputs a model takes, one per request: encoded images, or an input already preprocessed. */
const IMAGE_INPUT = 'image';
const TENSOR_INPUT = 'tensor';
const LABEL_OUTPUT = 'label';

const product = (shape) => shape.reduce((a, b) => a * b, 1);
const shapeText = (shape) => `[${shape.join(', ')}]`;

/** GET /v2 and ServerMetadata: the extensions each transport implements. */
function serverMetadata(extensions) {
  return { name: 'chori-torch', version, extensions };
}

/** The scores output is named for what the artifact declares its outputs are. */
const scoresName = (spec) => spec.outputKind; // 'logits' | 'probabilities'

/** GET /v2/models/{name} and ModelMetadata. */
function modelMetadata(spec) {
  const [h, w] = spec.inputSize ?? [-1, -1];
  return {
    name: spec.name,
    versions: [String(spec.version)],
    platform: spec.format === 'pt2' ? 'pytorch_aoti' : 'pytorch_libtorch',
    inputs: [
      { name: IMAGE_INPUT, datatype: 'BYTES', shape: [-1] },
      { name: TENSOR_INPUT, datatype: 'FP32', shape: [-1, 3, h, w] },
    ],
    outputs: [
      { name: scoresName(spec), datatype: 'FP32', shape: [-1, spec.numClasses] },
      { name: LABEL_OUTPUT, datatype: 'BYTES', shape: [-1] },
    ],
  };
}

/** A request naming a version must name the one serving (versions count reloads: 1, 2, …). */
function checkVersion(spec, requested) {
  if (requested === undefined || requested === '' || requested === String(spec.version)) return;
  throw new ServerError(serverCodes.MODEL_VERSION_NOT_FOUND,
    `model "${spec.name}" has no version ${JSON.stringify(requested)}; version ${spec.version} is serving (a reload makes the next one)`);
}

function checkShape(name, shape) {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw badRequest(`input "${name}": shape must be an array of non-negative integers, not ${JSON.stringify(shape)}`);
  }
}

/**
 * The data plane's inputs for a request's tensors: Buffers (encoded images) from a BYTES
 * "image" [N], or { data, shape: [3, H, W] } per row of an FP32 "tensor" [N, 3, H, W].
 */
function decodeInputs(spec, inputs, maxBatch) {
  if (!Array.isArray(inputs) || inputs.length !== 1) {
    throw badRequest(`give exactly one input: "${IMAGE_INPUT}" (BYTES [N], encoded images) or "${TENSOR_INPUT}" (FP32 [N, 3, H, W], preprocessed); got ${Array.isArray(inputs) ? inputs.length : 'none'}`);
  }
  const [input] = inputs;
  const { name, datatype, shape } = input;
  checkShape(name, shape);
  const n = shape[0];
  if (name === IMAGE_INPUT) {
    if (datatype !== 'BYTES') throw badRequest(`input "${IMAGE_INPUT}" must be BYTES (encoded images), not ${datatype}`);
    if (shape.length !== 1) throw badRequest(`input "${IMAGE_INPUT}" must have shape [N] (one encoded image per element), not ${shapeText(shape)}`);
  } else if (name === TENSOR_INPUT) {
    if (datatype !== 'FP32') throw badRequest(`input "${TENSOR_INPUT}" must be FP32 (preprocessed, planar RGB), not ${datatype}`);
    const [h, w] = spec.inputSize ?? [shape[2], shape[3]];
    if (shape.length !== 4 || shape[1] !== 3 || shape[2] !== h || shape[3] !== w || h < 1 || w < 1) {
      throw badRequest(`input "${TENSOR_INPUT}" must have shape [N, 3, ${spec.inputSize ? `${h}, ${w}` : 'H, W'}] for model "${spec.name}", not ${shapeText(shape)}`);
    }
  } else {
    throw badRequest(`model "${spec.name}" has no input "${name}"; it takes "${IMAGE_INPUT}" (BYTES) or "${TENSOR_INPUT}" (FP32)`);
  }
  if (n < 1 || n > maxBatch) throw badRequest(`input "${name}": the batch (shape[0]) must be 1 to ${maxBatch}, not ${n}`);
  if (name === IMAGE_INPUT) {
    if (input.elements?.length !== n) throw badRequest(`input "${name}" has shape ${shapeText(shape)} but ${input.elements?.length ?? 0} elements`);
    return input.elements;
  }
  const size = product(shape.slice(1));
  if (input.floats?.length !== n * size) throw badRequest(`input "${name}" has shape ${shapeText(shape)} (${n * size} values) but ${input.floats?.length ?? 0} values`);
  const rows = [];
  for (let i = 0; i < n; i += 1) rows.push({ data: input.floats.subarray(i * size, (i + 1) * size), shape: [3, shape[2], shape[3]] });
  return rows;
}

/**
 * The outputs a request asks for, checked: [{ name, classification?: k, binary?: boolean }];
 * none listed means every output, without classification.
 */
function requestedOutputs(spec, outputs) {
  const names = [scoresName(spec), LABEL_OUTPUT];
  if (outputs === undefined || outputs.length === 0) return names.map((name) => ({ name }));
  return outputs.map((o) => {
    if (!names.includes(o.name)) throw badRequest(`model "${spec.name}" has no output "${o.name}"; it has ${names.map((n) => `"${n}"`).join(', ')}`);
    const k = o.classification;
    if (k === undefined) return { ...o, classification: undefined };
    if (o.name !== scoresName(spec)) throw badRequest(`the classification extension applies to "${scoresName(spec)}", not "${o.name}"`);
    if (!Number.isInteger(k) || k < 1) throw badRequest(`output "${o.name}": classification must be a positive integer, not ${JSON.stringify(k)}`);
    return { ...o, classification: Math.min(k, spec.numClasses) };
  });
}

/** Triton's classification strings "value:index:label", best first (equal values: lower index first). */
function classification(scores, k, labels) {
  const order = [...scores.keys()].sort((a, b) => scores[b] - scores[a] || a - b).slice(0, k);
  return order.map((i) => Buffer.from(`${scores[i].toFixed(6)}:${i}:${labels[i]}`));
}

/**
 * The answer's tensors for the data plane's result (infer() with logits: true). An input that
 * failed fails the request, with its code and the element named.
 */
function buildOutputs(spec, result, requested, inputName) {
  if (result.defaulted) {
    throw new ServerError(serverCodes.DEADLINE_EXCEEDED,
      'no prediction within the --slo-ms objective; the --default-label answer is only given by POST /predict');
  }
  const failed = result.outcomes.findIndex((o) => o.status === 'rejected');
  if (failed >= 0) {
    const { code, message } = classify(result.outcomes[failed].reason);
    throw new ServerError(code, `input "${inputName}" element ${failed}: ${message}`);
  }
  const predictions = result.outcomes.map((o) => o.value);
  const n = predictions.length;
  return requested.map(({ name, classification: k }) => {
    if (name === LABEL_OUTPUT) return { name, datatype: 'BYTES', shape: [n], elements: predictions.map((p) => Buffer.from(p.label)) };
    if (k !== undefined) {
      return { name, datatype: 'BYTES', shape: [n, k], elements: predictions.flatMap((p) => classification(p.logits, k, spec.labels)) };
    }
    const floats = new Float32Array(n * spec.numClasses);
    predictions.forEach((p, i) => floats.set(p.logits, i * spec.numClasses));
    return { name, datatype: 'FP32', shape: [n, spec.numClasses], floats };
  });
}

/** The BYTES elements of a binary tensor: each a 4-byte little-endian length, then the bytes. */
function splitBytes(buffer, name) {
  const elements = [];
  let at = 0;
  while (at < buffer.length) {
    if (at + 4 > buffer.length) throw badRequest(`input "${name}": the binary BYTES data ends inside a 4-byte length prefix`);
    const length = buffer.readUInt32LE(at);
    if (at + 4 + length > buffer.length) {
      throw badRequest(`input "${name}": element ${elements.length} claims ${length} bytes but ${buffer.length - at - 4} remain`);
    }
    elements.push(buffer.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return elements;
}

/** BYTES elements as one binary blob: each a 4-byte little-endian length, then the bytes. */
function joinBytes(elements) {
  const parts = [];
  for (const e of elements) {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(e.length);
    parts.push(length, e);
  }
  return Buffer.concat(parts);
}

/** Little-endian float32s (any alignment) as a Float32Array of their own. */
function floatsFrom(buffer, name) {
  if (buffer.length % 4 !== 0) throw badRequest(`input "${name}": ${buffer.length} bytes of FP32 data is not a whole number of 4-byte values`);
  const copy = new Uint8Array(buffer); // aligned, owned
  return new Float32Array(copy.buffer, 0, buffer.length / 4);
}

const floatBytes = (floats) => Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength);

module.exports = {
  IMAGE_INPUT, TENSOR_INPUT, LABEL_OUTPUT,
  serverMetadata, modelMetadata, checkVersion, decodeInputs, requestedOutputs, buildOutputs,
  splitBytes, joinBytes, floatsFrom, floatBytes, product,
};
