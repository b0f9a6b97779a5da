'use strict';
// The doors, on real servers over loopback: every protected route of every protocol without a
// key (401; gRPC UNAUTHENTICATED), with the wrong key (403; PERMISSION_DENIED) and with the right one (200); management routes only on
// the management listener; a generated management key in a 0600 file whose path, never the key,
// is printed; keys in no log line; https on both listeners with a certificate made at test time.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const tls = require('node:tls');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const os = require('node:os');
const path = require('node:path');
const { startServer, startCli, call, assertConforms, metricValue } = require('./server-harness');
const { exampleImages, modelPath } = require('./helpers');
const { makeCertificate } = require('./certificates');
const { PROTO } = require('../../js/server/protocols/oip-grpc');

const INFERENCE = 'test-inference-key-6f1d2c3b4a5e';
const MANAGEMENT = 'test-management-key-9a8b7c6d5e4f';
const WRONG = 'not-the-key-at-all-0123456789';
const face = () => fs.readFileSync(exampleImages().find((f) => /\/face_\d+\.jpg$/.test(f)));
const bearer = (key) => (key ? { authorization: `Bearer ${key}` } : {});

function keyFile(key) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chori-key-')), 'key');
  fs.writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return file;
}

let server;
test.before(async () => {
  // The management key from the environment, as a Kubernetes Secret would give it.
  process.env.CHORI_TORCH_MANAGEMENT_KEY = MANAGEMENT;
  try {
    server = await startServer({ models: { faces: modelPath }, inferenceKeyFile: keyFile(INFERENCE), protectMetrics: true, grpcPort: 0 });
  } finally {
    delete process.env.CHORI_TORCH_MANAGEMENT_KEY;
  }
});
test.after(() => server?.close());

/**
 * The protected routes of the inference listener: [protocol, method, path, OpenAPI template or
 * null, body (a function of the server's answers so far), check of the 200 answer].
 */
const INFERENCE_ROUTES = [
  ['chori', 'GET', '/models', '/models', undefined, (res) => assert.equal(res.json.models[0].name, 'faces')],
  ['chori', 'POST', '/predict', '/predict', face, (res) => assert.equal(res.json.label, 'Face')],
  ['chori', 'POST', '/models/faces/predict', '/models/{name}/predict', face, (res) => assert.equal(res.json.label, 'Face')],
  ['chori', 'GET', '/metrics', '/metrics', undefined, (res) => assert.match(res.text, /chori_auth_failures_total/)],
  ['torchserve', 'POST', '/predictions/faces', '/predictions/{name}', face, (res) => assert.ok(res.json.Face > 0.5)],
  ['torchserve', 'PUT', '/predictions/faces/1', '/predictions/{name}/{version}', face, (res) => assert.ok(res.json.Face > 0.5)],
  ['oip', 'GET', '/v2', null, undefined, (res) => assert.equal(typeof res.json.name, 'string')],
  ['oip', 'GET', '/v2/models/faces', null, undefined, (res) => assert.equal(res.json.name, 'faces')],
  ['oip', 'POST', '/v2/models/faces/infer', null, oipRequest, (res) => assert.ok(Array.isArray(res.json.outputs))],
];

/** An OIP infer request for the face image, its input named as the model's metadata says. */
async function oipRequest() {
  const meta = await call(server.url, 'GET', '/v2/models/faces', { headers: bearer(INFERENCE) });
  const input = meta.json.inputs.find((i) => i.datatype === 'BYTES');
  return { inputs: [{ name: input.name, shape: [1], datatype: 'BYTES', data: [face().toString('base64')] }] };
}

function assertRefused(res, status, protocol, what) {
  assert.equal(res.status, status, `${what}: ${res.text}`);
  assert.match(res.headers['content-type'], /^application\/json/, `${what}: a page can read the refusal`);
  const code = status === 401 ? 'CHORI_UNAUTHENTICATED' : 'CHORI_FORBIDDEN';
  if (protocol === 'chori') assert.equal(res.json.error.code, code, what);
  if (protocol === 'torchserve') assert.deepEqual([res.json.code, res.json.type, res.json.message.split(':')[0]], [status, 'InvalidKeyException', code], what);
  if (protocol === 'oip') assert.match(res.json.error, new RegExp(code), what);
  if (status === 401) assert.match(res.headers['www-authenticate'], /^Bearer realm="chori-torch"/, what);
}

test('every protected inference route: 401 without a key, 403 with a wrong one, 200 with the inference key', async () => {
  for (const [protocol, method, urlPath, template, body, check] of INFERENCE_ROUTES) {
    const what = `${method} ${urlPath}`;
    const payload = typeof body === 'function' ? await body() : body;
    const missing = await call(server.url, method, urlPath, { body: payload });
    const wrong = await call(server.url, method, urlPath, { body: payload, headers: bearer(WRONG) });
    const otherKey = await call(server.url, method, urlPath, { body: payload, headers: bearer(MANAGEMENT) });
    const notBearer = await call(server.url, method, urlPath, { body: payload, headers: { authorization: `Basic ${Buffer.from(`u:${INFERENCE}`).toString('base64')}` } });
    const right = await call(server.url, method, urlPath, { body: payload, headers: bearer(INFERENCE) });
    assertRefused(missing, 401, protocol, `${what} without a key`);
    assertRefused(notBearer, 401, protocol, `${what} with Basic credentials`);
    assertRefused(wrong, 403, protocol, `${what} with a wrong key`);
    assertRefused(otherKey, 403, protocol, `${what} with the management key`);
    assert.equal(right.status, 200, `${what} with the key: ${right.text}`);
    check(right);
    if (template) for (const res of [missing, wrong, right]) assertConforms(method, template, res);
  }
});

/** The Open Inference Protocol's gRPC client on the server's gRPC listener (its address from the 'listening' log line). */
function grpcClient(target, credentials = grpc.credentials.createInsecure()) {
  const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  const { GRPCInferenceService } = grpc.loadPackageDefinition(definition).inference;
  const client = new GRPCInferenceService(target, credentials);
  const rpc = (name, request, key) => new Promise((resolve) => {
    const metadata = new grpc.Metadata();
    if (key !== undefined) metadata.set('authorization', key);
    client[name](request, metadata, (err, response) => resolve({ err, response }));
  });
  return { rpc, close: () => client.close() };
}

const grpcAddress = (s) => s.logs.find((l) => l.msg === 'listening').grpc.replace(/^[^:]+:/, '127.0.0.1:');

test('every inference RPC: UNAUTHENTICATED without a key, PERMISSION_DENIED with a wrong one, OK with the inference key', async () => {
  const { rpc, close } = grpcClient(grpcAddress(server));
  try {
    const meta = await rpc('ModelMetadata', { name: 'faces' }, `Bearer ${INFERENCE}`);
    assert.equal(meta.err, null, meta.err?.details);
    const input = meta.response.inputs.find((i) => i.datatype === 'BYTES');
    const calls = [
      ['ServerMetadata', {}, (r) => assert.equal(typeof r.name, 'string')],
      ['ModelMetadata', { name: 'faces' }, (r) => assert.equal(r.name, 'faces')],
      ['ModelInfer', { model_name: 'faces', inputs: [{ name: input.name, datatype: 'BYTES', shape: [1], contents: { bytes_contents: [face()] } }] },
        (r) => assert.ok(r.outputs.length > 0)],
    ];
    for (const [name, request, check] of calls) {
      const missing = await rpc(name, request);
      const notBearer = await rpc(name, request, INFERENCE);
      const wrong = await rpc(name, request, `Bearer ${WRONG}`);
      const otherKey = await rpc(name, request, `Bearer ${MANAGEMENT}`);
      const right = await rpc(name, request, `Bearer ${INFERENCE}`);
      for (const [res, code, what] of [[missing, 16, 'without a key'], [notBearer, 16, 'without "Bearer"'], [wrong, 7, 'a wrong key'], [otherKey, 7, 'the management key']]) {
        assert.equal(res.err?.code, code, `${name} with ${what}: ${res.err?.details}`);
        assert.match(res.err.details, code === 16 ? /^CHORI_UNAUTHENTICATED: / : /^CHORI_FORBIDDEN: /);
      }
      assert.equal(right.err, null, `${name} with the key: ${right.err?.details}`);
      check(right.response);
    }
    for (const [name, request] of [['ServerLive', {}], ['ServerReady', {}], ['ModelReady', { name: 'faces' }]]) {
      const res = await rpc(name, request);
      assert.equal(res.err, null, `${name} is public: ${res.err?.details}`);
    }
  } finally {
    close();
  }
  const { text } = await call(server.url, 'GET', '/metrics', { headers: bearer(INFERENCE) });
  assert.ok((metricValue(text, 'chori_auth_failures_total', { listener: 'grpc', reason: 'missing' }) ?? 0) >= 3);
  assert.ok((metricValue(text, 'chori_auth_failures_total', { listener: 'grpc', reason: 'invalid' }) ?? 0) >= 6);
});

test('public routes need no key: probes, TorchServe\'s ping, the OIP health routes', async () => {
  for (const urlPath of ['/healthz', '/readyz', '/ping', '/v2/health/live', '/v2/health/ready', '/v2/models/faces/ready']) {
    const res = await call(server.url, 'GET', urlPath);
    assert.equal(res.status, 200, `${urlPath}: ${res.text}`);
  }
});

test('reload lives on the management listener, behind the management key; the inference port has no such route', async () => {
  const reload = (base, key) => call(base, 'POST', '/models/faces/reload', { headers: bearer(key) });
  const missing = await reload(server.managementUrl);
  assertConforms('POST', '/models/{name}/reload', missing);
  assertRefused(missing, 401, 'chori', 'reload without a key');
  const inferenceKey = await reload(server.managementUrl, INFERENCE);
  assertConforms('POST', '/models/{name}/reload', inferenceKey);
  assertRefused(inferenceKey, 403, 'chori', 'reload with the inference key');
  const ok = await reload(server.managementUrl, MANAGEMENT);
  assertConforms('POST', '/models/{name}/reload', ok);
  assert.deepEqual([ok.status, ok.json.model], [200, { name: 'faces', version: 2 }]);

  const onInference = await reload(server.url, MANAGEMENT);
  assert.deepEqual([onInference.status, onInference.json.error.code], [404, 'CHORI_NOT_FOUND']);
  // Nor does the management listener serve inference.
  const predict = await call(server.managementUrl, 'POST', '/predict', { body: face(), headers: bearer(MANAGEMENT) });
  assert.deepEqual([predict.status, predict.json.error.code], [404, 'CHORI_NOT_FOUND']);
});

test('refusals are counted by listener and reason; no key, right or wrong, reaches the log', async () => {
  await call(server.managementUrl, 'POST', '/models/faces/reload', { headers: bearer(WRONG) });
  const { text } = await call(server.url, 'GET', '/metrics', { headers: bearer(INFERENCE) });
  const count = (listener, reason) => metricValue(text, 'chori_auth_failures_total', { listener, reason }) ?? 0;
  assert.ok(count('inference', 'missing') >= INFERENCE_ROUTES.length, text);
  assert.ok(count('inference', 'malformed') >= INFERENCE_ROUTES.length);
  assert.ok(count('inference', 'invalid') >= 2 * INFERENCE_ROUTES.length);
  assert.ok(count('management', 'missing') >= 1);
  assert.ok(count('management', 'invalid') >= 2);

  const log = JSON.stringify(server.logs);
  assert.ok(server.logs.some((l) => l.status === 401) && server.logs.some((l) => l.status === 403), 'the refusals are logged');
  for (const secret of [INFERENCE, MANAGEMENT, WRONG]) assert.ok(!log.includes(secret), 'a key reached the log');
  const listening = server.logs.find((l) => l.msg === 'listening');
  assert.equal(listening.inference_key.split(' ')[0], '--inference-key-file');
  assert.equal(listening.management_key, '$CHORI_TORCH_MANAGEMENT_KEY');
});

test('a management listener beyond loopback gets a generated key, written 0600; its path is printed, the key never', async (t) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chori-gen-')), 'keys.json');
  // Bound to every interface; the test's requests go to loopback only.
  const cli = startCli(['--model', `faces=${modelPath}`, '--management-host', '0.0.0.0', '--generated-keys-file', file]);
  t.after(() => cli.child.kill('SIGKILL'));
  await cli.url;
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const { management } = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.ok(management.length >= 40);
  const output = cli.lines.join('\n') + cli.stderr();
  assert.ok(output.includes(file), 'the key file is named');
  assert.ok(!output.includes(management), 'the key is not printed');

  const port = cli.lines.join('\n').match(/management_url=http:\/\/0\.0\.0\.0:(\d+)/)[1];
  const base = `http://127.0.0.1:${port}`;
  assert.equal((await call(base, 'POST', '/models/faces/reload')).status, 401);
  assert.equal((await call(base, 'POST', '/models/faces/reload', { headers: bearer(management) })).status, 200);
  cli.child.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0);
  assert.ok(!(cli.lines.join('\n') + cli.stderr()).includes(management), 'nor after the reload and the stop');
});

/** The SHA-256 fingerprint of the certificate a TLS listener on 127.0.0.1:`port` presents (ALPN: `protocols`). */
function peerFingerprint(port, protocols) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: protocols }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

/** An https request trusting `ca`. Resolves { status, json, cert } (the certificate presented). */
function httpsCall(base, method, urlPath, { ca, headers = {} }) {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(urlPath, base), { method, ca, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks).toString('utf8')), cert: res.socket.getPeerCertificate() }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('TLS: --tls-cert/--tls-key serve https on both listeners; plain http is not answered', async () => {
  const pair = makeCertificate('localhost');
  const secure = await startServer({ models: { faces: modelPath }, tlsCert: pair.cert, tlsKey: pair.key, managementKeyFile: keyFile(MANAGEMENT), grpcPort: 0 });
  try {
    assert.match(secure.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(secure.managementUrl, /^https:\/\//);
    const ca = fs.readFileSync(pair.cert);
    const ready = await httpsCall(secure.url, 'GET', '/readyz', { ca });
    assert.deepEqual([ready.status, ready.json.status], [200, 'ready']);
    assert.equal(ready.cert.fingerprint256, pair.fingerprint);
    const reload = await httpsCall(secure.managementUrl, 'POST', '/models/faces/reload', { ca, headers: bearer(MANAGEMENT) });
    assert.deepEqual([reload.status, reload.json.model.version], [200, 2]);
    await assert.rejects(httpsCall(secure.url, 'GET', '/healthz', { ca: fs.readFileSync(makeCertificate('stranger').cert) }), /self[- ]signed|unable to verify/i,
      'a client that does not trust the certificate refuses it');
    await assert.rejects(call(secure.url.replace('https:', 'http:'), 'GET', '/healthz'));

    // gRPC over TLS with the same pair; a plaintext client is not answered.
    const tlsClient = grpcClient(grpcAddress(secure).replace('127.0.0.1', 'localhost'), grpc.credentials.createSsl(ca));
    const plainClient = grpcClient(grpcAddress(secure));
    try {
      assert.equal((await tlsClient.rpc('ServerLive', {})).err, null);
      assert.equal((await plainClient.rpc('ServerLive', {})).err?.code, grpc.status.UNAVAILABLE);
    } finally {
      tlsClient.close();
      plainClient.close();
    }

    // A renewed pair (written over the files, as cert-manager does) is served without a restart, by gRPC too.
    const renewed = makeCertificate('renewed');
    fs.copyFileSync(renewed.key, pair.key);
    fs.copyFileSync(renewed.cert, pair.cert);
    const grpcPort = Number(grpcAddress(secure).split(':').pop());
    const presented = async () => [await peerFingerprint(new URL(secure.url).port), await peerFingerprint(grpcPort, ['h2'])];
    let seen = await presented();
    for (let i = 0; i < 100 && seen.some((f) => f !== renewed.fingerprint); i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      seen = await presented();
    }
    assert.deepEqual(seen, [renewed.fingerprint, renewed.fingerprint], 'https and gRPC present the renewed certificate');
    assert.ok(secure.logs.some((l) => l.msg === 'TLS certificate reloaded'));
    const renewedClient = grpcClient(grpcAddress(secure).replace('127.0.0.1', 'localhost'), grpc.credentials.createSsl(fs.readFileSync(renewed.cert)));
    try {
      assert.equal((await renewedClient.rpc('ServerLive', {})).err, null);
    } finally {
      renewedClient.close();
    }
  } finally {
    await secure.close();
  }
});
