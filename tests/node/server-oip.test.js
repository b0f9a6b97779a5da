'use strict';
// The Open Inference Protocol against its spec files: REST answers validated against
// docs/openapi.json, gRPC answers decoded with grpc_predict_v2.proto (the file the server loads,
// read again by @grpc/proto-loader as any client would), logits compared with predict()'s.
// tests/oip drives the same server with the real client library, tritonclient.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const chori = require('chori-torch');
const { startServer, call, assertConforms, metricValue } = require('./server-harness');
const { exampleImages, modelPath } = require('./helpers');
const { PROTO } = require('../../js/server/protocols/oip-grpc');

const images = () => exampleImages().filter((f) => /(face|not_face)_0[12]\./.test(f)).slice(0, 2).map((f) => fs.readFileSync(f));
const bits = (floats) => Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength);

let server;
let reference; // predict(…, { logits: true }) in this process, for the same images
test.before(async () => {
  server = await startServer({ models: { faces: modelPath }, grpcPort: 0 });
  const model = await chori.load(modelPath, { threads: 1 });
  reference = await Promise.all(images().map((image) => model.predict(image, { logits: true })));
  reference.push(await model.preprocess(images()[0]));
  await model.dispose();
});
test.after(() => server.close());

const get = (path) => call(server.url, 'GET', path);
const post = (path, body, headers) => call(server.url, 'POST', path, { body, headers });

/** A POST whose answer may be binary: { status, headers, bytes }. */
function postBytes(path, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, server.url), { method: 'POST', headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('REST health, server and model metadata answer as openapi.json says', async () => {
  for (const [path, template] of [
    ['/v2/health/live', '/v2/health/live'],
    ['/v2/health/ready', '/v2/health/ready'],
    ['/v2', '/v2'],
    ['/v2/models/faces', '/v2/models/{name}'],
    ['/v2/models/faces/versions/1', '/v2/models/{name}/versions/{version}'],
    ['/v2/models/faces/ready', '/v2/models/{name}/ready'],
    ['/v2/models/faces/versions/1/ready', '/v2/models/{name}/versions/{version}/ready'],
    ['/v2/models/nope', '/v2/models/{name}'],
    ['/v2/models/faces/versions/9', '/v2/models/{name}/versions/{version}'],
  ]) {
    assertConforms('GET', template, await get(path));
  }
  assert.deepEqual((await get('/v2/models/faces/ready')).json, { name: 'faces', ready: true });
  assert.equal((await get('/v2/models/nope')).json.error.split(':')[0], 'CHORI_MODEL_NOT_FOUND');
});

test('REST infer, JSON and binary, conforms and gives predict()\'s logits', async () => {
  const inputs = [{ name: 'image', datatype: 'BYTES', shape: [2], data: images().map((i) => i.toString('base64')) }];
  const json = await post('/v2/models/faces/infer', { id: 'r1', inputs, outputs: [{ name: 'logits' }, { name: 'label' }] });
  assertConforms('POST', '/v2/models/{name}/infer', json);
  assert.equal(json.json.id, 'r1');
  const [logits, label] = json.json.outputs;
  assert.deepEqual(logits.shape, [2, 2]);
  assert.ok(bits(Float32Array.from(logits.data)).equals(Buffer.concat(reference.slice(0, 2).map((r) => bits(r.logits)))));
  assert.deepEqual(label.data, reference.slice(0, 2).map((r) => r.label));

  // The binary tensor data extension: a JSON header, then the FP32 tensor; binary outputs back.
  const { data, shape } = reference[2];
  const header = Buffer.from(JSON.stringify({
    inputs: [{ name: 'tensor', datatype: 'FP32', shape: [1, ...shape], parameters: { binary_data_size: data.byteLength } }],
    parameters: { binary_data_output: true },
  }));
  const binary = await postBytes('/v2/models/faces/versions/1/infer', Buffer.concat([header, bits(data)]), {
    'Inference-Header-Content-Length': String(header.length),
  });
  assertConforms('POST', '/v2/models/{name}/versions/{version}/infer', binary);
  const length = Number(binary.headers['inference-header-content-length']);
  const head = JSON.parse(binary.bytes.subarray(0, length).toString());
  assert.deepEqual(head.outputs.map((o) => [o.name, o.datatype, o.shape, o.parameters.binary_data_size]), [
    ['logits', 'FP32', [1, 2], 8],
    ['label', 'BYTES', [1], 4 + Buffer.byteLength(reference[0].label)],
  ]);
  assert.ok(binary.bytes.subarray(length, length + 8).equals(bits(reference[0].logits)));
  assert.equal(binary.bytes.subarray(length + 12).toString(), reference[0].label);
});

test('REST failures are {"error": "CHORI_…: …"} with the documented status', async () => {
  const cases = [
    [{ inputs: [{ name: 'image', datatype: 'FP32', shape: [1], data: [1] }] }, 400, /^CHORI_BAD_REQUEST: input "image" must be BYTES/],
    [{ inputs: [{ name: 'tensor', datatype: 'FP32', shape: [1, 3, 2, 2], data: new Array(12).fill(0) }] }, 400, /must have shape \[N, 3, 56, 56\]/],
    [{ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: ['bm90IGFuIGltYWdl'] }] }, 400, /^CHORI_\w+: input "image" element 0: /],
    [{ inputs: [] }, 400, /give exactly one input/],
  ];
  for (const [body, status, pattern] of cases) {
    const res = await post('/v2/models/faces/infer', body);
    assertConforms('POST', '/v2/models/{name}/infer', res);
    assert.equal(res.status, status, res.text);
    assert.match(res.json.error, pattern);
  }
  const missing = await post('/v2/models/nope/infer', { inputs: [] });
  assertConforms('POST', '/v2/models/{name}/infer', missing);
  assert.equal(missing.status, 404);
});

function grpcClient(address) {
  const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: true, oneofs: true });
  const { GRPCInferenceService } = grpc.loadPackageDefinition(definition).inference;
  const client = new GRPCInferenceService(address, grpc.credentials.createInsecure());
  const rpc = (name, request) => new Promise((resolve, reject) => client[name](request, (err, res) => (err ? reject(err) : resolve(res))));
  return { rpc, close: () => client.close() };
}

test('gRPC answers decode with grpc_predict_v2.proto and give predict()\'s logits', async () => {
  const { rpc, close } = grpcClient(server.grpcAddress);
  try {
    assert.deepEqual(await rpc('ServerLive', {}), { live: true });
    assert.deepEqual(await rpc('ServerReady', {}), { ready: true });
    assert.deepEqual(await rpc('ModelReady', { name: 'faces', version: '' }), { ready: true });
    const meta = await rpc('ModelMetadata', { name: 'faces' });
    assert.deepEqual(meta.inputs.map((t) => [t.name, t.datatype, t.shape]), [['image', 'BYTES', [-1]], ['tensor', 'FP32', [-1, 3, 56, 56]]]);

    const answer = await rpc('ModelInfer', {
      model_name: 'faces',
      id: 'g1',
      inputs: [{ name: 'image', datatype: 'BYTES', shape: [2], contents: { bytes_contents: images() } }],
      outputs: [{ name: 'logits' }, { name: 'logits', parameters: { classification: { int64_param: 1 } } }],
    });
    assert.equal(answer.id, 'g1');
    assert.deepEqual(answer.outputs.map((o) => [o.name, o.datatype, o.shape]), [['logits', 'FP32', [2, 2]], ['logits', 'BYTES', [2, 1]]]);
    assert.ok(answer.raw_output_contents[0].equals(Buffer.concat(reference.slice(0, 2).map((r) => bits(r.logits)))));
    const first = answer.raw_output_contents[1].subarray(4, 4 + answer.raw_output_contents[1].readUInt32LE(0)).toString();
    assert.equal(first, `${reference[0].logits[reference[0].index].toFixed(6)}:${reference[0].index}:${reference[0].label}`);

    const { data, shape } = reference[2];
    const tensor = await rpc('ModelInfer', {
      model_name: 'faces',
      inputs: [{ name: 'tensor', datatype: 'FP32', shape: [1, ...shape] }],
      raw_input_contents: [bits(data)],
    });
    assert.ok(tensor.raw_output_contents[0].equals(bits(reference[0].logits)));

    await assert.rejects(rpc('ModelInfer', { model_name: 'faces', inputs: [{ name: 'image', datatype: 'INT32', shape: [1] }] }), (err) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /^CHORI_BAD_REQUEST: input "image" must be BYTES/);
      return true;
    });
    await assert.rejects(rpc('ModelMetadata', { name: 'nope' }), { code: grpc.status.NOT_FOUND });
  } finally {
    close();
  }
  const metrics = (await get('/metrics')).text;
  assert.ok(metricValue(metrics, 'chori_grpc_requests_total', { rpc: 'ModelInfer', code: 'OK' }) >= 2);
  assert.ok(metricValue(metrics, 'chori_grpc_requests_total', { rpc: 'ModelInfer', code: 'INVALID_ARGUMENT' }) >= 1);
  const logged = server.logs.filter((l) => l.msg === 'request' && l.route === 'ModelInfer');
  assert.ok(logged.some((l) => l.status === 'OK' && l.model === 'faces' && l.batch === 2));
});
