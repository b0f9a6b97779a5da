'use strict';
// TorchServe's inference API on a real server, asked with curl as TorchServe's documentation
// does (docs/inference_api.md): -T (a PUT of the file), -F data=@file, --data-binary. Answers are
// checked against docs/openapi.json and against the model itself: the probabilities are the
// model's scores, most probable first.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFile } = require('node:child_process');
const chori = require('chori-torch');
const { startServer, startCli, call, assertConforms, largeImage } = require('./server-harness');
const { exampleImages, modelPath, tempFile } = require('./helpers');
const { probabilitiesJson } = require('../../js/server/protocols/torchserve');

const faceFile = () => exampleImages().find((f) => /\/face_\d+\.jpg$/.test(f));
const notFaceFile = () => exampleImages().find((f) => /not_face_\d+\.png$/.test(f));

/** curl with `args`, -sS, and the status on the last line. Resolves { status, headers, text, json }. */
function curl(args) {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-D', '-', '-w', '\n%{http_code}', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl ${args.join(' ')}: ${stderr || err.message}`));
      const status = Number(stdout.slice(stdout.lastIndexOf('\n') + 1));
      const rest = stdout.slice(0, stdout.lastIndexOf('\n'));
      // -D - writes every header block (a 100 Continue first, for -T): the body follows the last.
      const blocks = rest.split('\r\n\r\n');
      const text = blocks.pop();
      const headers = Object.fromEntries(blocks.pop().split('\r\n').slice(1).map((l) => {
        const i = l.indexOf(':');
        return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
      }));
      const json = /^application\/json/.test(headers['content-type'] ?? '') ? JSON.parse(text) : undefined;
      resolve({ status, headers, text, json });
    });
  });
}

let server;
let model;
test.before(async () => {
  server = await startServer({ models: { faces: modelPath }, maxBodyBytes: 256 * 1024 });
  model = await chori.load(modelPath);
});
test.after(async () => {
  await server?.close();
  model?.dispose();
});

/** The answer TorchServe's image_classifier would give for `file`, from the model directly. */
async function expected(file) {
  const { topk } = await model.predict(fs.readFileSync(file), { topk: Math.min(5, model.labels.length) });
  return topk;
}

function assertProbabilities(res, topk) {
  assert.equal(res.status, 200, res.text);
  // The text itself, in rank order: JSON.parse would hide a reordering of integer-like labels.
  assert.equal(res.text, probabilitiesJson(topk));
  assert.deepEqual(Object.keys(res.json), topk.map((t) => t.label));
  for (const { label, score } of topk) assert.equal(res.json[label], score, `${label}: the model's own score`);
  const values = Object.values(res.json);
  assert.deepEqual(values, [...values].sort((a, b) => b - a), 'most probable first');
}

test('GET /ping is TorchServe\'s health check', async () => {
  const res = await curl([`${server.url}/ping`]);
  assertConforms('GET', '/ping', res);
  assert.deepEqual(res.json, { status: 'Healthy' });
});

test('POST /predictions/{name}: curl -T, -F data=@, --data-binary all answer {label: probability}', async () => {
  const face = faceFile();
  const topk = await expected(face);
  assert.equal(topk[0].label, 'Face');
  const url = `${server.url}/predictions/faces`;
  const upload = await curl(['-T', face, url]); // curl -T sends a PUT, as in TorchServe's docs
  assertConforms('PUT', '/predictions/{name}', upload);
  assertProbabilities(upload, topk);
  const form = await curl([url, '-F', `data=@${face}`]);
  assertConforms('POST', '/predictions/{name}', form);
  assertProbabilities(form, topk);
  const binary = await curl(['-X', 'POST', url, '--data-binary', `@${notFaceFile()}`, '-H', 'Content-Type: image/png']);
  assertConforms('POST', '/predictions/{name}', binary);
  assertProbabilities(binary, await expected(notFaceFile()));
  assert.ok(server.logs.some((l) => l.route === '/predictions/:name[/:version]' && l.model === 'faces' && l.label === 'Face'));
});

test('POST /predictions/{name}/{version}: the serving version by "1" or "1.0"; another is 404', async () => {
  const face = faceFile();
  const topk = await expected(face);
  for (const version of ['1', '1.0']) {
    const res = await curl([`${server.url}/predictions/faces/${version}`, '-F', `data=@${face}`]);
    assertConforms('POST', '/predictions/{name}/{version}', res);
    assertProbabilities(res, topk);
  }
  const other = await curl([`${server.url}/predictions/faces/2.0`, '-T', face]);
  assertConforms('PUT', '/predictions/{name}/{version}', other);
  assert.deepEqual([other.status, other.json.code, other.json.type], [404, 404, 'ModelVersionNotFoundException']);
  assert.match(other.json.message, /^CHORI_MODEL_VERSION_NOT_FOUND: Model version: 2\.0 does not exist for model: faces/);
});

test('failures are TorchServe\'s ErrorResponse with our code in the message', async () => {
  const cases = [
    [['-T', faceFile(), `${server.url}/predictions/nope`], '/predictions/{name}', 'PUT', 404, 'ModelNotFoundException', 'CHORI_MODEL_NOT_FOUND'],
    [['-T', tempFile('x.jpg', 'not an image at all'), `${server.url}/predictions/faces`], '/predictions/{name}', 'PUT', 400, 'BadRequestException', 'CHORI_'],
    [['-X', 'POST', `${server.url}/predictions/faces`, '--data-binary', `@${tempFile('big.bin', Buffer.alloc(300 * 1024))}`],
      '/predictions/{name}', 'POST', 413, 'RequestEntityTooLargeException', 'CHORI_BODY_TOO_LARGE'],
    [[`${server.url}/predictions/faces/1/extra`], null, 'GET', 404, 'ResourceNotFoundException', 'CHORI_NOT_FOUND'],
    [[`${server.url}/predictions/faces`], null, 'GET', 405, 'MethodNotAllowedException', 'CHORI_METHOD_NOT_ALLOWED'],
  ];
  for (const [args, template, method, status, type, code] of cases) {
    const res = await curl(args);
    // An unrouted path or method under /predictions has no OpenAPI entry: TorchServe's shape is checked below.
    if (template) assertConforms(method, template, res);
    assert.deepEqual(Object.keys(res.json ?? {}).sort(), ['code', 'message', 'type']);
    assert.deepEqual([res.status, res.json?.code, res.json?.type], [status, status, type], `${args.join(' ')}: ${res.text}`);
    assert.ok(res.json.message.startsWith(code), res.json.message);
  }
  // The server keeps serving.
  assertProbabilities(await curl(['-T', faceFile(), `${server.url}/predictions/faces`]), await expected(faceFile()));
});


test('past --slo-ms with --default-label: {"<label>": null}, marked X-Chori-Default', async () => {
  const late = await startServer({ models: { faces: modelPath }, sloMs: 1, defaultLabel: 'Not face' });
  try {
    // Decoding this image alone takes tens of milliseconds: the 1 ms objective always passes.
    const res = await call(late.url, 'POST', '/predictions/faces', { body: largeImage() });
    assertConforms('POST', '/predictions/{name}', res);
    assert.deepEqual([res.status, res.headers['x-chori-default'], res.json], [200, 'true', { 'Not face': null }]);
  } finally {
    await late.close();
  }
});

test('labels keep their rank order in the JSON text, even integer-like ones; a repeated label keeps its first place', () => {
  const text = probabilitiesJson([{ label: '7', score: 0.5 }, { label: '10', score: 0.3 }, { label: 'cat', score: 0.1 }, { label: '7', score: 0.05 }]);
  assert.equal(text, '{"7": 0.05, "10": 0.3, "cat": 0.1}\n');
});

test('/ping is Unhealthy (500) while the models load, as TorchServe without a running worker', async (t) => {
  // Enough copies of the model to keep the server loading for well over a second (as in server-startup.test.js).
  const models = Array.from({ length: 40 }, (_, i) => ['--model', `m${i}=${modelPath}`]).flat();
  const loading = startCli(models, { until: 'loading models' });
  t.after(() => loading.child.kill('SIGKILL'));
  const res = await curl([`${await loading.url}/ping`]);
  assertConforms('GET', '/ping', res);
  assert.deepEqual([res.status, res.json], [500, { status: 'Unhealthy' }]);
  loading.child.kill('SIGTERM');
  assert.equal((await loading.exited).code, 0);
});
