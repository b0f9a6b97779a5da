'use strict';
// The Open Inference Protocol over REST (KServe's "V2", Triton's HTTP protocol), on the same
// port as chori-torch's own API: health, server and model metadata, model readiness and infer,
// with the binary tensor data extension (tritonclient's default) and the classification
// extension. Failures are { "error": "CHORI_…: message" }. Semantics shared with gRPC: oip.js.

const { performance } = require('node:perf_hooks');
const { badRequest } = require('../core/errors');
const { round } = require('../core/dataplane');
const { hintHeaders } = require('../http/answer');
const { readRaw, decodeBase64 } = require('../http/body');
const { query } = require('../http/query');
const { is } = require('../../validate');
const oip = require('./oip');
const choriRest = require('./chori-rest');

// Our statuses are KServe's for the same failures (InvalidInput 400, ModelNotFound 404,
// ModelNotReady and ServerNotReady 503, InferenceError 500), so the table is chori-rest's.
const STATUS = choriRest.STATUS;
const EXTENSIONS = ['binary_tensor_data', 'classification'];
const HEADER_LENGTH = 'inference-header-content-length';

/** failure: core/errors.js classify()'s { code, message, hints }. The code leads the text. */
function errorAnswer({ code, message, hints }) {
  return { status: STATUS[code] ?? 500, headers: hintHeaders(hints), body: { error: `${code}: ${message}` } };
}

const flatten = (data) => (Array.isArray(data) ? data.flat(Infinity) : [data]);

/** An input's tensor from JSON `data`: BYTES elements are base64 strings, FP32 numbers. */
function fromJson(input) {
  const values = flatten(input.data);
  if (input.datatype === 'BYTES') {
    return { elements: values.map((v, i) => decodeBase64(v, `input "${input.name}" element ${i}`)) };
  }
  if (input.datatype === 'FP32') {
    const bad = values.findIndex((v) => typeof v !== 'number');
    if (bad >= 0) throw badRequest(`input "${input.name}" element ${bad} is not a number: ${JSON.stringify(values[bad])?.slice(0, 40)}`);
    return { floats: Float32Array.from(values) };
  }
  return {};
}

/** An input's tensor from its slice of the binary data. */
function fromBinary(input, bytes) {
  if (input.datatype === 'BYTES') return { elements: oip.splitBytes(bytes, input.name) };
  if (input.datatype === 'FP32') return { floats: oip.floatsFrom(bytes, input.name) };
  return {};
}

/**
 * The request: its JSON header (all of the body, or the first Inference-Header-Content-Length
 * bytes), and the inputs with their tensors, taken from `data` or, for those with a
 * binary_data_size, from the binary data after the header, in order.
 */
function parseRequest(req, body) {
  const declared = req.headers[HEADER_LENGTH];
  let headerBytes = body;
  let binary = Buffer.alloc(0);
  if (declared !== undefined) {
    if (!/^\d+$/.test(declared) || Number(declared) > body.length) {
      throw badRequest(`Inference-Header-Content-Length is ${JSON.stringify(declared)} but the body has ${body.length} bytes`);
    }
    headerBytes = body.subarray(0, Number(declared));
    binary = body.subarray(Number(declared));
  }
  let request;
  try {
    request = JSON.parse(headerBytes.toString('utf8'));
  } catch (err) {
    throw badRequest(`the inference request is not valid JSON (${err.message})`);
  }
  if (!is.plainObject(request)) throw badRequest('the inference request must be a JSON object with "inputs"');
  if (!Array.isArray(request.inputs)) throw badRequest('the inference request needs "inputs": an array of tensors');
  let at = 0;
  const inputs = request.inputs.map((input, i) => {
    if (!is.plainObject(input) || typeof input.name !== 'string' || typeof input.datatype !== 'string') {
      throw badRequest(`inputs[${i}] must be an object with "name", "datatype", "shape" and "data" (or parameters.binary_data_size)`);
    }
    const size = input.parameters?.binary_data_size;
    if (size === undefined) {
      if (input.data === undefined) throw badRequest(`input "${input.name}" has neither "data" nor parameters.binary_data_size`);
      return { ...input, ...fromJson(input) };
    }
    if (!Number.isInteger(size) || size < 0 || at + size > binary.length) {
      throw badRequest(`input "${input.name}" has binary_data_size ${JSON.stringify(size)} but ${binary.length - at} bytes of binary data remain`);
    }
    const tensor = fromBinary(input, binary.subarray(at, at + size));
    at += size;
    return { ...input, ...tensor };
  });
  if (at !== binary.length) {
    throw badRequest(`the body has ${binary.length} bytes of binary data after the JSON header but the inputs' binary_data_size add up to ${at}`);
  }
  return { request, inputs };
}

/** The outputs asked for: [{ name, classification?, binary }]. */
function outputsOf(request, spec) {
  const binaryDefault = request.parameters?.binary_data_output === true;
  if (request.outputs !== undefined && !Array.isArray(request.outputs)) throw badRequest('"outputs" must be an array');
  const asked = (request.outputs ?? []).map((o, i) => {
    if (!is.plainObject(o) || typeof o.name !== 'string') throw badRequest(`outputs[${i}] must be an object with a "name"`);
    return { name: o.name, classification: o.parameters?.classification, binary: o.parameters?.binary_data ?? binaryDefault };
  });
  return oip.requestedOutputs(spec, asked).map((o) => ({ ...o, binary: o.binary ?? binaryDefault }));
}

/** The answer: JSON, or a JSON header followed by the binary outputs. */
function encodeAnswer(head, tensors, requested) {
  const blobs = [];
  head.outputs = tensors.map((t, i) => {
    const { name, datatype, shape } = t;
    if (requested[i].binary) {
      const bytes = t.floats ? oip.floatBytes(t.floats) : oip.joinBytes(t.elements);
      blobs.push(bytes);
      return { name, datatype, shape, parameters: { binary_data_size: bytes.length } };
    }
    return { name, datatype, shape, data: t.floats ? Array.from(t.floats) : t.elements.map((e) => e.toString('utf8')) };
  });
  if (blobs.length === 0) return { status: 200, body: head };
  const json = Buffer.from(JSON.stringify(head));
  return {
    status: 200,
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(json.length) },
    bytes: Buffer.concat([json, ...blobs]),
  };
}

function routes({ dataPlane, options }) {
  const spec = (name, version) => {
    const s = dataPlane.spec(name);
    oip.checkVersion(s, version);
    return s;
  };

  async function infer(ctx, name, version) {
    query(ctx.url, []);
    dataPlane.registry.assertKnown(name); // before the body is read
    const body = await readRaw(ctx.req, options.maxBodyBytes);
    const model = spec(name, version);
    const { request, inputs } = parseRequest(ctx.req, body);
    const requested = outputsOf(request, model);
    const batch = oip.decodeInputs(model, inputs, options.maxBatch);
    ctx.log.batch = batch.length;
    const result = await dataPlane.infer(name, batch, { topk: 1, logits: true, started: ctx.started });
    Object.assign(ctx.log, { model: name, version: result.model.version });
    const tensors = oip.buildOutputs(model, result, requested, inputs[0].name);
    if (batch.length === 1) ctx.log.label = result.outcomes[0].value.label;
    const head = {
      model_name: name,
      model_version: String(result.model.version),
      ...(request.id !== undefined && { id: String(request.id) }),
      parameters: { latency_ms: round(performance.now() - ctx.started) },
    };
    return encodeAnswer(head, tensors, requested);
  }

  const json = (body) => ({ status: 200, body });
  const MODEL = '/v2/models/([^/]+)(?:/versions/([^/]+))?';
  return [
    { route: '/v2/health/live', pattern: /^\/v2\/health\/live$/, access: 'public', methods: { GET: () => json({ live: true }) } },
    {
      route: '/v2/health/ready', pattern: /^\/v2\/health\/ready$/, access: 'public',
      methods: { GET: () => (dataPlane.assertReady(), json({ ready: true })) },
    },
    { route: '/v2', pattern: /^\/v2$/, access: 'inference', methods: { GET: () => json(oip.serverMetadata(EXTENSIONS)) } },
    {
      route: '/v2/models/:name[/versions/:version]', pattern: new RegExp(`^${MODEL}$`), access: 'inference',
      methods: { GET: (ctx, name, version) => json(oip.modelMetadata(spec(name, version))) },
    },
    {
      route: '/v2/models/:name[/versions/:version]/ready', pattern: new RegExp(`^${MODEL}/ready$`), access: 'public',
      methods: {
        GET: (ctx, name, version) => {
          spec(name, version);
          dataPlane.assertReady();
          return json({ name, ready: dataPlane.modelReady(name) });
        },
      },
    },
    { route: '/v2/models/:name[/versions/:version]/infer', pattern: new RegExp(`^${MODEL}/infer$`), access: 'inference', methods: { POST: infer } },
  ];
}

module.exports = { name: 'oip-rest', prefix: '/v2', routes, errorAnswer };
