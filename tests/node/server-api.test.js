'use strict';
// `serve()` on a loopback port with the demo model: every endpoint, every input form, every
// error path, each answer checked against docs/openapi.json.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startServer, call, multipart, assertConforms, metricValue } = require('./server-harness');
const { exampleImages, modelPath } = require('./helpers');

const faceJpg = () => fs.readFileSync(exampleImages().find((f) => /\/face_\d+\.jpg$/.test(f)));
const notFacePng = () => fs.readFileSync(exampleImages().find((f) => /not_face_\d+\.png$/.test(f)));

let server;
test.before(async () => {
  server = await startServer({ models: { faces: modelPath, second: modelPath }, maxBodyBytes: 64 * 1024, maxPixels: 1_000_000 });
});
test.after(() => server.close());

const post = (path, opts) => call(server.url, 'POST', path, opts);
const get = (path) => call(server.url, 'GET', path);

function assertPrediction(res, label, { name = 'faces', version = 1 } = {}) {
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.label, label);
  assert.deepEqual(res.json.model, { name, version });
  assert.ok(res.json.latency_ms >= 0);
  assert.equal(res.json.topk[0].label, label);
}

test('GET /healthz, /readyz and /models describe the server', async () => {
  const health = await get('/healthz');
  assertConforms('GET', '/healthz', health);
  assert.deepEqual(health.json, { status: 'ok' });

  const ready = await get('/readyz');
  assertConforms('GET', '/readyz', ready);
  assert.deepEqual(ready.json, { status: 'ready', models: ['faces', 'second'] });

  const models = await get('/models');
  assertConforms('GET', '/models', models);
  const [faces, second] = models.json.models;
  assert.equal(faces.name, 'faces');
  assert.equal(faces.default, true);
  assert.equal(second.default, false);
  assert.deepEqual(faces.labels, ['Not face', 'Face']);
  assert.equal(faces.input.color_mode, 'RGB');
  assert.equal(faces.output.num_classes, 2);
  assert.match(faces.sha256, /^[0-9a-f]{64}$/);
  assert.equal(faces.optimize, 'onednn', "the default 'auto', resolved for a fixed-size model");
});

test('POST /predict takes the image bytes, whatever the content type says', async () => {
  for (const type of ['image/jpeg', 'application/octet-stream', 'application/x-www-form-urlencoded', undefined]) {
    const res = await post('/predict', { body: faceJpg(), headers: type ? { 'content-type': type } : {} });
    assertConforms('POST', '/predict', res);
    assertPrediction(res, 'Face');
    assert.equal(res.json.topk.length, 2, 'topk defaults to min(5, labels)');
  }
  const png = await post('/predict?topk=1', { body: notFacePng(), headers: { 'content-type': 'image/png' } });
  assertConforms('POST', '/predict', png);
  assertPrediction(png, 'Not face');
  assert.equal(png.json.topk.length, 1);
});

test('POST /predict takes multipart/form-data with one file part', async () => {
  const form = multipart([{ name: 'note', data: 'hello' }, { name: 'image', filename: 'x.jpg', type: 'image/jpeg', data: faceJpg() }]);
  const res = await post('/predict', form);
  assertConforms('POST', '/predict', res);
  assertPrediction(res, 'Face');

  const two = multipart([{ name: 'a', filename: 'a.jpg', data: faceJpg() }, { name: 'b', filename: 'b.jpg', data: faceJpg() }]);
  const twoRes = await post('/predict', two);
  assertConforms('POST', '/predict', twoRes);
  assert.equal(twoRes.json.error.code, 'CHORI_BAD_REQUEST');

  const none = await post('/predict', multipart([{ name: 'note', data: 'no file' }]));
  assert.equal(none.status, 400);
  assert.match(none.json.error.message, /no file part/);

  const broken = await post('/predict', { body: 'garbage', headers: { 'content-type': 'multipart/form-data' } });
  assertConforms('POST', '/predict', broken);
  assert.equal(broken.json.error.code, 'CHORI_BAD_REQUEST');
});

test('POST /predict takes JSON {"input": base64}, a data: URL too, and "topk"', async () => {
  const res = await post('/predict', { body: { input: faceJpg().toString('base64'), topk: 1 } });
  assertConforms('POST', '/predict', res);
  assertPrediction(res, 'Face');
  assert.equal(res.json.topk.length, 1);

  const dataUrl = await post('/predict', { body: { input: `data:image/png;base64,${notFacePng().toString('base64url')}` } });
  assertPrediction(dataUrl, 'Not face');
});

test('JSON {"inputs": [...]} predicts a batch; a bad input fails alone', async () => {
  const res = await post('/models/second/predict', { body: { inputs: [faceJpg().toString('base64'), 'AAAA', notFacePng().toString('base64')] } });
  assertConforms('POST', '/models/{name}/predict', res);
  assert.equal(res.status, 200);
  assert.deepEqual(res.json.model, { name: 'second', version: 1 });
  const [a, b, c] = res.json.predictions;
  assert.equal(a.label, 'Face');
  assert.equal(b.error.code, 'CHORI_UNSUPPORTED_FORMAT');
  assert.equal(c.label, 'Not face');
});

test('an undecodable image is 400 with the addon\'s code', async () => {
  const cases = [
    [Buffer.from('this is not an image'), 'CHORI_UNSUPPORTED_FORMAT'],
    [Buffer.alloc(0), 'CHORI_EMPTY_INPUT'],
    [faceJpg().subarray(0, 600), 'CHORI_TRUNCATED'],
  ];
  for (const [body, code] of cases) {
    const res = await post('/predict', { body, headers: { 'content-type': 'image/jpeg' } });
    assertConforms('POST', '/predict', res);
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, code, res.text);
  }
});

test('malformed requests are 400 with a sentence', async () => {
  const cases = [
    [{ body: '{"input":', headers: { 'content-type': 'application/json' } }, /not valid JSON/],
    [{ body: [1, 2] }, /must be an object/],
    [{ body: { input: 'not base64!' } }, /input is not valid base64/],
    [{ body: { input: 42 } }, /input must be a base64 string/],
    [{ body: { input: 'AAAA', inputs: ['AAAA'] } }, /exactly one of/],
    [{ body: { inputs: [] } }, /"inputs" must be an array of 1 to 32/],
    [{ body: { inputs: new Array(33).fill('AAAA') } }, /1 to 32/],
    [{ body: { image: 'AAAA' } }, /unknown field "image"/],
    [{ body: { input: 'AAAA', topk: 0 } }, /topk must be an integer/],
  ];
  for (const [opts, message] of cases) {
    const res = await post('/predict', opts);
    assertConforms('POST', '/predict', res);
    assert.equal(res.json.error.code, 'CHORI_BAD_REQUEST');
    assert.match(res.json.error.message, message);
  }
  const query = await post('/predict?top=3', { body: faceJpg() });
  assert.match(query.json.error.message, /unknown query parameter "top"/);
  const topk = await post('/predict?topk=many', { body: faceJpg() });
  assert.match(topk.json.error.message, /topk must be an integer/);
});

test('too large: the body (413, connection closed) and the pixels (413)', async () => {
  const res = await post('/predict', { body: Buffer.alloc(64 * 1024 + 1) });
  assertConforms('POST', '/predict', res);
  assert.equal(res.status, 413);
  assert.equal(res.json.error.code, 'CHORI_BODY_TOO_LARGE');
  assert.equal(res.headers.connection, 'close');

  const json = await post('/predict', { body: { input: Buffer.alloc(60 * 1024).toString('base64') } });
  assert.equal(json.json.error.code, 'CHORI_BODY_TOO_LARGE');

  const big = require('../../js/server/png').encodePng(1200, 1000, () => [0, 0, 0]);
  const pixels = await post('/predict', { body: big });
  assertConforms('POST', '/predict', pixels);
  assert.equal(pixels.status, 413);
  assert.equal(pixels.json.error.code, 'CHORI_IMAGE_TOO_LARGE');
});

test('unknown model, route and method: 404, 404, 405 with Allow', async () => {
  const model = await post('/models/nope/predict', { body: faceJpg() });
  assertConforms('POST', '/models/{name}/predict', model);
  assert.equal(model.status, 404);
  assert.equal(model.json.error.code, 'CHORI_MODEL_NOT_FOUND');
  assert.match(model.json.error.message, /"faces", "second"/);

  // Reload lives on the management listener only: there, an unknown model is 404; on the inference port the route does not exist.
  const reload = await call(server.managementUrl, 'POST', '/models/nope/reload');
  assertConforms('POST', '/models/{name}/reload', reload);
  assert.equal(reload.status, 404);
  assert.equal(reload.json.error.code, 'CHORI_MODEL_NOT_FOUND');
  assert.equal((await post('/models/faces/reload')).json.error.code, 'CHORI_NOT_FOUND');

  const route = await get('/nothing-here');
  assertConforms('GET', '/nothing-here', route);
  assert.equal(route.json.error.code, 'CHORI_NOT_FOUND');

  const method = await call(server.url, 'DELETE', '/models');
  assertConforms('DELETE', '/models', method);
  assert.equal(method.status, 405);
  assert.equal(method.headers.allow, 'GET');
  assert.equal(method.json.error.code, 'CHORI_METHOD_NOT_ALLOWED');

  const encoded = await post('/models/%E0%A4%A/predict', { body: faceJpg() });
  assert.equal(encoded.status, 400);
});

test('GET /predict?url= is off without --allow-url', async () => {
  const res = await get(`/predict?url=${encodeURIComponent(`${server.url}/healthz`)}`);
  assertConforms('GET', '/predict', res);
  assert.equal(res.status, 403);
  assert.equal(res.json.error.code, 'CHORI_URL_DISABLED');
});

test('GET /metrics counts requests by route and status, batch sizes, queue depth, load time', async () => {
  await post('/predict', { body: faceJpg() });
  await post('/predict', { body: { inputs: [faceJpg().toString('base64'), faceJpg().toString('base64')] } });
  const res = await get('/metrics');
  assertConforms('GET', '/metrics', res);
  assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const m = (name, labels) => metricValue(res.text, name, labels);
  assert.ok(m('chori_http_requests_total', { method: 'POST', route: '/predict', status: '200' }) >= 2);
  assert.ok(m('chori_http_requests_total', { method: 'POST', route: '/predict', status: '400' }) >= 1);
  assert.ok(m('chori_http_request_duration_seconds_count', { method: 'POST', route: '/predict' }) >= 2);
  assert.ok(m('chori_batch_size_bucket', { model: 'faces', le: '2' }) >= 1);
  assert.ok(m('chori_predictions_total', { model: 'faces', outcome: 'ok' }) >= 3);
  assert.equal(m('chori_queue_depth', { model: 'faces' }), 0);
  assert.ok(m('chori_model_load_seconds', { model: 'faces' }) > 0);
  assert.equal(m('chori_model_version', { model: 'second' }), 1);
  assert.match(res.text, /^process_resident_memory_bytes \d+/m);
});

test('one JSON log line per request: method, route, status, label, execution time', async () => {
  const before = server.logs.length;
  await post('/models/second/predict', { body: notFacePng() });
  await post('/predict', { body: Buffer.from('nope') });
  const [ok, bad] = server.logs.slice(before).filter((l) => l.msg === 'request');
  assert.deepEqual(
    { method: ok.method, route: ok.route, path: ok.path, status: ok.status, label: ok.label, model: ok.model, version: ok.version },
    { method: 'POST', route: '/models/:name/predict', path: '/models/second/predict', status: 200, label: 'Not face', model: 'second', version: 1 },
  );
  assert.ok(ok.ms > 0 && typeof ok.time === 'string');
  assert.equal(bad.status, 400);
  assert.equal(bad.code, 'CHORI_UNSUPPORTED_FORMAT');
});

test('serve() validates its options before starting anything', async () => {
  const { serve } = require('chori-torch');
  await assert.rejects(serve({ port: 70000 }), /Expected an integer between 0 and 65535 for options.port but received 70000/);
  await assert.rejects(serve({ models: { '1st': modelPath } }), /model name in options.models/);
  await assert.rejects(serve({ logFormat: 'xml' }), /one of text, json, none for options.logFormat/);
  await assert.rejects(serve({ sloMS: 10 }), /options.sloMS/);
  await assert.rejects(serve({ defaultLabel: 'Face' }), /options.defaultLabel needs options.sloMs/);
  await assert.rejects(serve({ allowPrivateUrls: true }), /needs options.allowUrl/);
  await assert.rejects(serve({ models: { m: '/nonexistent/model.pt' }, port: 0, logFormat: 'none' }), { code: 'CHORI_MODEL_LOAD' });
});
