'use strict';
// The Open Inference Protocol over gRPC (GRPCInferenceService, grpc_predict_v2.proto beside this
// file), on its own port (--grpc-port). Each RPC decodes its request, calls the data plane and
// encodes the answer; failures carry a gRPC status chosen below, with "CHORI_…: message" as
// details. Semantics shared with REST: oip.js.

const path = require('node:path');
const { performance } = require('node:perf_hooks');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { codes } = require('../../errors');
const { serverCodes, badRequest, classify } = require('../core/errors');
const oip = require('./oip');

const PROTO = path.join(__dirname, 'grpc_predict_v2.proto');
const SERVICE = 'inference.GRPCInferenceService';
const EXTENSIONS = ['classification'];
const { status: S } = grpc;

// KServe's gRPC servicer maps its errors so: InvalidInput → INVALID_ARGUMENT, ModelNotFound →
// NOT_FOUND, ModelNotReady and ServerNotReady → UNAVAILABLE, the rest INTERNAL.
const STATUS = {
  [codes.INVALID_ARGUMENT]: S.INVALID_ARGUMENT,
  [codes.EMPTY_INPUT]: S.INVALID_ARGUMENT,
  [codes.DECODE]: S.INVALID_ARGUMENT,
  [codes.TRUNCATED]: S.INVALID_ARGUMENT,
  [codes.UNSUPPORTED_FORMAT]: S.INVALID_ARGUMENT,
  [codes.IMAGE_TOO_LARGE]: S.INVALID_ARGUMENT,
  [codes.DISPOSED]: S.UNAVAILABLE,
  [codes.MODEL_LOAD]: S.INTERNAL,
  [codes.MODEL_METADATA]: S.INTERNAL,
  [codes.INFERENCE]: S.INTERNAL,
  [codes.DEVICE]: S.INTERNAL,
  [codes.ADDON_NOT_BUILT]: S.INTERNAL,
  [codes.INTERNAL]: S.INTERNAL,
  [serverCodes.BAD_REQUEST]: S.INVALID_ARGUMENT,
  [serverCodes.UNAUTHENTICATED]: S.UNAUTHENTICATED,
  [serverCodes.FORBIDDEN]: S.PERMISSION_DENIED,
  [serverCodes.MODEL_NOT_FOUND]: S.NOT_FOUND,
  [serverCodes.MODEL_VERSION_NOT_FOUND]: S.NOT_FOUND,
  [serverCodes.NOT_READY]: S.UNAVAILABLE,
  [serverCodes.OVERLOADED]: S.RESOURCE_EXHAUSTED,
  [serverCodes.DEADLINE_EXCEEDED]: S.DEADLINE_EXCEEDED,
};

// The statuses a REST client would get as 5xx: logged as errors.
const SERVER_FAULTS = new Set([S.INTERNAL, S.UNAVAILABLE, S.DEADLINE_EXCEEDED, S.RESOURCE_EXHAUSTED]);

let service;
function loadService() {
  if (!service) {
    const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    service = grpc.loadPackageDefinition(definition).inference.GRPCInferenceService.service;
  }
  return service;
}

/** A map<string, InferParameter> entry's value, whichever of the oneof is set. */
const param = (params, key) => {
  const p = params?.[key];
  return p?.parameter_choice ? p[p.parameter_choice] : undefined;
};

/** The request's input tensors (oip.js's form), from raw_input_contents or typed contents. */
function inputsOf(request) {
  const raw = request.raw_input_contents;
  if (raw.length > 0 && raw.length !== request.inputs.length) {
    throw badRequest(`raw_input_contents has ${raw.length} entries for ${request.inputs.length} inputs`);
  }
  return request.inputs.map((input, i) => {
    const tensor = { name: input.name, datatype: input.datatype, shape: input.shape };
    const contents = input.contents ?? {};
    if (raw.length > 0) {
      const typed = Object.values(contents).some((v) => Array.isArray(v) && v.length > 0);
      if (typed) throw badRequest(`input "${input.name}": contents must be empty when raw_input_contents is used`);
      if (input.datatype === 'BYTES') return { ...tensor, elements: oip.splitBytes(raw[i], input.name) };
      if (input.datatype === 'FP32') return { ...tensor, floats: oip.floatsFrom(raw[i], input.name) };
      return tensor;
    }
    if (input.datatype === 'BYTES') return { ...tensor, elements: contents.bytes_contents ?? [] };
    if (input.datatype === 'FP32') return { ...tensor, floats: Float32Array.from(contents.fp32_contents ?? []) };
    return tensor;
  });
}

/**
 * The gRPC server, not yet bound. deps: { dataPlane, options, log, metrics,
 * authorize(access, metadata) (throws to refuse; none: all allowed), credentials (grpc
 * ServerCredentials; default plaintext) }.
 */
function createGrpcServer({ dataPlane, options, log, authorize = () => {}, credentials = grpc.ServerCredentials.createInsecure() }) {
  const { metrics } = dataPlane;

  const spec = (name, version) => {
    const s = dataPlane.spec(name);
    oip.checkVersion(s, version);
    return s;
  };

  async function modelInfer(request, logFields) {
    const name = request.model_name;
    const model = spec(name, request.model_version);
    const inputs = inputsOf(request);
    const requested = oip.requestedOutputs(model, request.outputs.map((o) => ({ name: o.name, classification: param(o.parameters, 'classification') })));
    const batch = oip.decodeInputs(model, inputs, options.maxBatch);
    logFields.batch = batch.length;
    const result = await dataPlane.infer(name, batch, { topk: 1, logits: true });
    Object.assign(logFields, { model: name, version: result.model.version });
    const tensors = oip.buildOutputs(model, result, requested, inputs[0].name);
    return {
      model_name: name,
      model_version: String(result.model.version),
      id: request.id,
      outputs: tensors.map(({ name: n, datatype, shape }) => ({ name: n, datatype, shape })),
      raw_output_contents: tensors.map((t) => (t.floats ? oip.floatBytes(t.floats) : oip.joinBytes(t.elements))),
    };
  }

  // RPC → [access, handler(request, logFields)].
  const rpcs = {
    ServerLive: ['public', () => ({ live: true })],
    ServerReady: ['public', () => ({ ready: dataPlane.ready })],
    ModelReady: ['public', (r) => {
      if (!dataPlane.modelReady(r.name)) return { ready: false }; // loading, draining (an unknown name throws)
      spec(r.name, r.version);
      return { ready: true };
    }],
    ServerMetadata: ['inference', () => oip.serverMetadata(EXTENSIONS)],
    ModelMetadata: ['inference', (r) => oip.modelMetadata(spec(r.name, r.version))],
    ModelInfer: ['inference', modelInfer],
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxBodyBytes,
    'grpc.keepalive_permit_without_calls': 1,
  });
  const implementation = {};
  for (const [rpc, [access, handler]] of Object.entries(rpcs)) {
    implementation[rpc] = async (call, callback) => {
      const started = performance.now();
      const fields = {};
      let status = S.OK;
      try {
        authorize(access, call.metadata);
        callback(null, await handler(call.request, fields));
      } catch (err) {
        const failure = classify(err);
        if (failure.internal) log.event('error', 'internal error', { route: rpc, error: err?.stack ?? String(err) });
        status = STATUS[failure.code] ?? S.INTERNAL;
        fields.code = failure.code;
        callback({ code: status, details: `${failure.code}: ${failure.message}` });
      }
      const seconds = (performance.now() - started) / 1000;
      metrics.grpcRequests.inc({ rpc, code: S[status] });
      metrics.grpcLatency.observe({ rpc }, seconds);
      const level = SERVER_FAULTS.has(status) ? 'error' : 'info'; // as HTTP's 5xx
      log.request({ method: 'gRPC', route: rpc, path: `/${SERVICE}/${rpc}`, status: S[status], level, ...fields, ms: seconds * 1000 });
    };
  }
  server.addService(loadService(), implementation);

  let address = null;
  return {
    /** Binds host:port (0: any free port); resolves the port. */
    listen(host, port) {
      return new Promise((resolve, reject) => {
        const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
        server.bindAsync(where, credentials, (err, bound) => {
          if (err) return reject(err);
          address = where.replace(/:\d+$/, `:${bound}`);
          resolve(bound);
        });
      });
    },
    /** host:port once bound, else null. */
    get address() {
      return address;
    },
    /** Stops taking calls and lets those running finish, at most timeoutMs; resolves { forced }. */
    close(timeoutMs) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve({ forced: true });
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve({ forced: false });
        });
      });
    },
  };
}

module.exports = { createGrpcServer, STATUS, PROTO, SERVICE };
