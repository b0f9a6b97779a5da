'use strict';
// What a serving system adds to a model: the latency objective and its default answer, the
// in-flight limit, atomic reloads under traffic (by request and on file change), and a
// graceful stop that lets requests in flight finish.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { startServer, startCli, call, assertConforms, largeImage, metricValue } = require('./server-harness');
const { modelPath, firstImage } = require('./helpers');

const face = () => fs.readFileSync(firstImage('.jpg'));

function modelCopy() {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chori-serve-')), 'faces.pt');
  fs.copyFileSync(modelPath, file);
  return file;
}

async function waitFor(predicate, what, timeoutMs = 5000) {
  const until = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('past --slo-ms the answer is --default-label, marked default; the model still finishes', async () => {
  const server = await startServer({ sloMs: 15, defaultLabel: 'Not face' });
  try {
    const res = await call(server.url, 'POST', '/predict', { body: largeImage() });
    assertConforms('POST', '/predict', res);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.label, 'Not face');
    assert.equal(res.json.default, true);
    assert.equal(res.json.index, undefined);

    const batch = await call(server.url, 'POST', '/predict', { body: { inputs: [largeImage().toString('base64')] } });
    assertConforms('POST', '/predict', batch);
    assert.deepEqual(batch.json.predictions, [{ label: 'Not face', default: true }]);

    // The in-flight slot is held until the model is done, then given back.
    await waitFor(async () => {
      const m = await call(server.url, 'GET', '/metrics');
      return metricValue(m.text, 'chori_queue_depth', { model: 'model' }) === 0;
    }, 'the queue to drain');
    const metrics = await call(server.url, 'GET', '/metrics');
    assert.equal(metricValue(metrics.text, 'chori_predictions_total', { model: 'model', outcome: 'default' }), 2);

    const quick = await call(server.url, 'POST', '/predict', { body: face() });
    assert.ok(quick.json.default === undefined || quick.json.default === true, 'a small image may or may not make 15 ms');
  } finally {
    await server.close();
  }
});

test('past --slo-ms without a default label: 504 CHORI_DEADLINE_EXCEEDED', async () => {
  const server = await startServer({ sloMs: 5 });
  try {
    const res = await call(server.url, 'POST', '/predict', { body: largeImage() });
    assertConforms('POST', '/predict', res);
    assert.equal(res.status, 504);
    assert.equal(res.json.error.code, 'CHORI_DEADLINE_EXCEEDED');
  } finally {
    await server.close();
  }
});

test('more images in flight than --max-queue: 503 CHORI_OVERLOADED with Retry-After', async () => {
  const server = await startServer({ maxQueue: 2, maxBatch: 2 });
  try {
    const answers = await Promise.all(Array.from({ length: 8 }, () => call(server.url, 'POST', '/predict', { body: largeImage() })));
    const statuses = answers.map((r) => r.status).sort();
    assert.ok(statuses.includes(200) && statuses.includes(503), `statuses: ${statuses}`);
    assert.ok(statuses.every((s) => s === 200 || s === 503), `statuses: ${statuses}`);
    for (const res of answers.filter((r) => r.status === 503)) {
      assertConforms('POST', '/predict', res);
      assert.equal(res.json.error.code, 'CHORI_OVERLOADED');
      assert.equal(res.headers['retry-after'], '1');
    }
    const after = await call(server.url, 'POST', '/predict', { body: face() });
    assert.equal(after.status, 200, 'slots are given back');
  } finally {
    await server.close();
  }
});

test('POST /models/:name/reload swaps versions atomically under traffic', async () => {
  const file = modelCopy();
  const server = await startServer({ models: { faces: file } });
  try {
    // A slow request admitted before the reload finishes on the version it started with.
    const slow = call(server.url, 'POST', '/predict', { body: largeImage() });
    await sleep(5);
    const first = await call(server.managementUrl, 'POST', '/models/faces/reload');
    assertConforms('POST', '/models/{name}/reload', first);
    assert.deepEqual(first.json.model, { name: 'faces', version: 2 });
    assert.equal(first.json.previous_version, 1);
    const slowRes = await slow;
    assert.equal(slowRes.status, 200);
    assert.equal(slowRes.json.model.version, 1);

    let running = true;
    const client = async () => {
      const seen = [];
      while (running) {
        const res = await call(server.url, 'POST', '/models/faces/predict', { body: face() });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.label, 'Face');
        seen.push(res.json.model.version);
      }
      return seen;
    };
    const clients = [client(), client(), client()];
    for (let i = 0; i < 3; i += 1) {
      await sleep(30);
      assert.equal((await call(server.managementUrl, 'POST', '/models/faces/reload')).status, 200);
    }
    await sleep(30);
    running = false;
    const seen = await Promise.all(clients);
    for (const versions of seen) {
      assert.deepEqual(versions, [...versions].sort((a, b) => a - b), 'a client never goes back to an older version');
    }
    const all = new Set(seen.flat());
    assert.ok(all.size >= 2, `versions seen under traffic: ${[...all]}`);
    assert.equal((await call(server.url, 'GET', '/models')).json.models[0].version, 5);

    // A broken file does not replace a working version.
    fs.writeFileSync(file, 'not a model');
    const broken = await call(server.managementUrl, 'POST', '/models/faces/reload');
    assertConforms('POST', '/models/{name}/reload', broken);
    assert.equal(broken.status, 500);
    assert.equal(broken.json.error.code, 'CHORI_MODEL_LOAD');
    assert.match(broken.json.error.message, /version 5 of "faces" keeps serving/);
    const still = await call(server.url, 'POST', '/predict', { body: face() });
    assert.deepEqual([still.status, still.json.model.version], [200, 5]);
  } finally {
    await server.close();
  }
});

test('--watch reloads a model when its file is replaced, and keeps serving when the new file is broken', async () => {
  const file = modelCopy();
  const server = await startServer({ models: { faces: file }, watch: true, watchIntervalMs: 25 });
  try {
    const next = `${file}.new`;
    fs.copyFileSync(modelPath, next);
    fs.renameSync(next, file); // the way deploys replace files: atomically, a new inode
    await waitFor(async () => (await call(server.url, 'GET', '/models')).json.models[0].version === 2, 'version 2');
    assert.ok(server.logs.some((l) => l.msg === 'model reloaded' && l.model === 'faces' && l.version === 2));
    assert.equal((await call(server.url, 'POST', '/predict', { body: face() })).json.model.version, 2);

    fs.writeFileSync(next, 'half a model');
    fs.renameSync(next, file);
    await waitFor(() => server.logs.some((l) => l.msg === 'reload failed' && l.code === 'CHORI_MODEL_LOAD'), 'the failed reload');
    assert.equal((await call(server.url, 'POST', '/predict', { body: face() })).json.model.version, 2);
    fs.copyFileSync(modelPath, next);
    fs.renameSync(next, file);
    await waitFor(async () => (await call(server.url, 'GET', '/models')).json.models[0].version === 3, 'version 3');
    assert.equal(server.logs.filter((l) => l.msg === 'reload failed').length, 1, 'a broken file is tried once');
  } finally {
    await server.close();
  }
});

/** Starts a POST /predict whose body is sent in two halves; send the second with finish(). */
function halfSentRequest(url, body) {
  const half = Math.floor(body.length / 2);
  let req;
  const answer = new Promise((resolve, reject) => {
    req = http.request(`${url}/predict`, { method: 'POST', agent: false, headers: { 'content-length': body.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, json: JSON.parse(Buffer.concat(chunks)) }));
    });
    req.on('error', reject);
    req.write(body.subarray(0, half));
  });
  return { answer, finish: () => req.end(body.subarray(half)) };
}

const refused = (url) => call(url, 'GET', '/healthz').then(() => false, (err) => err.code === 'ECONNREFUSED');

test('close(): stops accepting, finishes the request in flight, then unloads', async () => {
  const server = await startServer();
  const { url } = server;
  const inFlight = halfSentRequest(url, face());
  await sleep(50);
  const closed = server.close();
  await sleep(20);
  assert.equal(await refused(url), true, 'no new connections once closing');
  inFlight.finish();
  const res = await inFlight.answer;
  assert.equal(res.status, 200);
  assert.equal(res.json.label, 'Face');
  assert.equal(res.headers.connection, 'close');
  assert.deepEqual(await closed, { forced: false });
  assert.ok(server.logs.some((l) => l.msg === 'stopped' && l.forced === false));
});

test('close() cuts off requests still running after --shutdown-timeout-ms', async () => {
  const server = await startServer({ shutdownTimeoutMs: 100 });
  const stalled = halfSentRequest(server.url, face());
  await sleep(50);
  const started = Date.now();
  assert.deepEqual(await server.close(), { forced: true });
  assert.ok(Date.now() - started < 2000);
  await assert.rejects(stalled.answer, /socket hang up|ECONNRESET/);
});

test('--batch gathers concurrent requests into shared forward passes', async () => {
  const server = await startServer({ batch: true, maxQueue: 64 });
  try {
    const image = face();
    const answers = await Promise.all(
      Array.from({ length: 32 }, () => call(server.url, 'POST', '/predict', { body: image })),
    );
    for (const res of answers) {
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.label, answers[0].json.label);
    }
    const text = (await call(server.url, 'GET', '/metrics')).text;
    // One observation per image, of the size of the forward pass that computed it.
    const predictions = metricValue(text, 'chori_forward_batch_size_count', { model: 'model' });
    const sizes = metricValue(text, 'chori_forward_batch_size_sum', { model: 'model' });
    assert.ok(predictions >= 32, `${predictions} predictions observed`);
    assert.ok(sizes > predictions, `some images shared a forward pass (sum ${sizes}, count ${predictions})`);
  } finally {
    await server.close();
  }
});

test('--drain-delay-ms: a stopping server keeps serving, not ready and closing connections, then finishes what is in flight', async () => {
  const delayMs = 600;
  const server = await startServer({ drainDelayMs: delayMs });
  const { url } = server;
  // A keep-alive connection opened before the stop, as a balancer's pool holds them.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const viaAgent = (urlPath) => new Promise((resolve, reject) => {
    http.get(`${url}${urlPath}`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection }));
    }).on('error', reject);
  });
  try {
    assert.equal((await viaAgent('/readyz')).status, 200);
    const started = Date.now();
    const closed = server.close();
    await sleep(50);
    // During the delay: predictions succeed, both readiness probes say 503, every answer closes its connection.
    const kept = await viaAgent('/readyz');
    assert.deepEqual(kept, { status: 503, connection: 'close' }, 'the idle keep-alive connection still answers');
    const predicted = await call(url, 'POST', '/predict', { body: face() });
    assert.equal(predicted.status, 200, predicted.text);
    assert.equal(predicted.json.label, 'Face');
    assert.equal(predicted.headers.connection, 'close');
    const ready = await call(url, 'GET', '/readyz');
    assertConforms('GET', '/readyz', ready);
    assert.equal(ready.status, 503);
    assert.equal(ready.json.error.code, 'CHORI_NOT_READY');
    assert.equal(ready.headers.connection, 'close');
    assert.equal((await call(url, 'GET', '/v2/health/ready')).status, 503);
    assert.equal((await call(url, 'GET', '/healthz')).status, 200, 'alive while draining');
    // A request that starts in the delay and is still running when the port closes finishes.
    const inFlight = halfSentRequest(url, face());
    await waitFor(() => refused(url), 'the port to close after the delay', delayMs + 2000);
    assert.ok(Date.now() - started >= delayMs - 20, `the port closed ${Date.now() - started} ms after close()`);
    inFlight.finish();
    const res = await inFlight.answer;
    assert.equal(res.status, 200);
    assert.equal(res.json.label, 'Face');
    assert.equal(res.headers.connection, 'close');
    assert.deepEqual(await closed, { forced: false });
  } finally {
    agent.destroy();
    await server.close();
  }
});

test('a server that never got ready stops without waiting for --drain-delay-ms', async () => {
  const started = Date.now();
  await assert.rejects(startServer({ drainDelayMs: 30000, models: { broken: '/nonexistent/model.pt' } }), /failed to load/);
  assert.ok(Date.now() - started < 10000, `a failed start took ${Date.now() - started} ms to stop`);
});

test('chori-torch serve on SIGTERM: serves on, not ready, for --drain-delay-ms, then exits 0', async () => {
  const server = startCli(['--drain-delay-ms', '400', '--model', modelPath]);
  const url = await server.url;
  server.child.kill('SIGTERM');
  await waitFor(() => server.lines.some((l) => / info stopping signal=SIGTERM while=serving drain_delay_ms=400$/.test(l)), 'the stopping line');
  const ready = await call(url, 'GET', '/readyz');
  assert.deepEqual([ready.status, ready.headers.connection], [503, 'close']);
  const predicted = await call(url, 'POST', '/predict', { body: face() });
  assert.equal(predicted.status, 200, predicted.text);
  assert.deepEqual(await server.exited, { code: 0, signal: null });
  assert.ok(server.lines.some((l) => / info stopped forced=false$/.test(l)), server.lines.join('\n'));
});
