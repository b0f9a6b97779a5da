'use strict';
// The first seconds of a server: signals while the models load, /healthz against /readyz, and
// models that fail to load at start, with and without --allow-partial. Real processes, real
// signals, real (slow) loads: no fake timers, and no test depends on how long anything takes.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { startServer, startCli, call, assertConforms } = require('./server-harness');
const { modelPath, firstImage } = require('./helpers');

// Each load of the demo artifact takes tens of milliseconds (the first one hundreds): this many
// copies keep a server loading for a second or more, a window no test has to hit by timing.
const MANY = 40;
const manyModels = () => Array.from({ length: MANY }, (_, i) => ['--model', `m${i}=${modelPath}`]).flat();
const missing = '/nonexistent/chori-missing.pt';
// Between probes: polling without a pause keeps the event loop so busy that loading crawls.
const PROBE_INTERVAL_MS = 25;

/** GET /healthz and /readyz at once, as a kubelet's probes would. */
async function probe(url) {
  const [health, ready] = await Promise.all([call(url, 'GET', '/healthz'), call(url, 'GET', '/readyz')]);
  return { health, ready };
}

const loadedCount = (lines) => lines.filter((l) => / info model loaded model=/.test(l)).length;

test('SIGTERM while the models load stops loading, closes the server and exits 0', async (t) => {
  const server = startCli(manyModels(), { until: 'loading models' });
  t.after(() => server.child.kill('SIGKILL'));
  const url = await server.url;

  // Alive but not ready: the window a rolling update's SIGTERM falls into.
  const { health, ready } = await probe(url);
  assertConforms('GET', '/healthz', health);
  assertConforms('GET', '/readyz', ready);
  assert.equal(health.status, 200);
  assert.equal(ready.status, 503, 'the models are still loading when the signal is sent');
  assert.equal(ready.json.error.code, 'CHORI_NOT_READY');
  server.child.kill('SIGTERM');

  assert.deepEqual(await server.exited, { code: 0, signal: null }, server.stderr());
  assert.equal(server.stderr(), '');
  const log = server.lines.join('\n');
  assert.match(log, / info stopping signal=SIGTERM while=loading\n/);
  assert.match(server.lines.at(-1), / info stopped forced=false$/);
  assert.doesNotMatch(log, / listening url=/, 'it never claims to be serving');
  assert.ok(loadedCount(server.lines) < MANY, `loading stopped early (${loadedCount(server.lines)} of ${MANY} loaded)`);
  await assert.rejects(call(url, 'GET', '/healthz'), { code: 'ECONNREFUSED' });
});

test('a SIGTERM sent while the modules still load is not lost: the server stops cleanly, exit 0', async (t) => {
  // In the image Node is PID 1, which the kernel shields from every signal it has no handler
  // for, so a stop sent before serve's handler exists was lost (and Docker killed the container
  // after its grace period); outside PID 1 the same signal killed the process. A preload holds
  // cli.js's require('./server') for a moment and says when, so the signal lands in that window.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chori-early-signal-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const marker = path.join(dir, 'requiring-server');
  const preload = path.join(dir, 'hold-server-require.js');
  fs.writeFileSync(preload, `
const Module = require('node:module');
const load = Module._load;
Module._load = function (request, parent, ...rest) {
  if (request === './server' && parent && parent.filename.endsWith('cli.js')) {
    require('node:fs').writeFileSync(${JSON.stringify(marker)}, '');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
  }
  return load.call(this, request, parent, ...rest);
};
`);
  const server = startCli(['--model', modelPath], { env: { NODE_OPTIONS: `--require ${preload}` } });
  t.after(() => server.child.kill('SIGKILL'));
  for (let i = 0; i < 2000 && !fs.existsSync(marker); i++) await sleep(5);
  assert.ok(fs.existsSync(marker), 'serve never required ./server');
  server.child.kill('SIGTERM');

  assert.deepEqual(await server.exited, { code: 0, signal: null }, server.stderr());
  const log = server.lines.join('\n');
  assert.match(log, / info stopping signal=SIGTERM while=loading\n/);
  assert.match(server.lines.at(-1), / info stopped forced=false$/);
  assert.doesNotMatch(log, / listening url=/, 'it never claims to be serving');
});

test('SIGINT while loading stops the same way; a second signal exits 1 at once', async (t) => {
  const first = startCli(manyModels(), { until: 'loading models' });
  t.after(() => first.child.kill('SIGKILL'));
  assert.equal((await probe(await first.url)).ready.status, 503);
  first.child.kill('SIGINT');
  assert.deepEqual(await first.exited, { code: 0, signal: null }, first.stderr());
  assert.match(first.lines.join('\n'), / info stopping signal=SIGINT while=loading\n/);

  // The drain waits for the load in progress (the first load, the slowest one) to finish: the
  // second signal lands inside that wait, sent once the first one has been seen.
  const twice = startCli(manyModels(), { until: 'loading models' });
  t.after(() => twice.child.kill('SIGKILL'));
  await twice.url;
  const stopping = new Promise((resolve) => {
    const seen = () => twice.lines.some((l) => / info stopping signal=SIGTERM/.test(l));
    const timer = setInterval(() => seen() && (clearInterval(timer), resolve()), 5);
  });
  twice.child.kill('SIGTERM');
  await stopping;
  twice.child.kill('SIGTERM');
  assert.deepEqual(await twice.exited, { code: 1, signal: null }, twice.stderr());
});

test('/healthz answers throughout loading, /readyz only once every model is loaded', async (t) => {
  const server = startCli(manyModels(), { until: 'loading models' });
  t.after(() => server.child.kill('SIGKILL'));
  const url = await server.url;
  const seen = [];
  for (;;) {
    const { health, ready } = await probe(url);
    assert.equal(health.status, 200, 'alive while loading');
    seen.push(ready.status);
    if (ready.status === 200) {
      assertConforms('GET', '/readyz', ready);
      assert.equal(ready.json.models.length, MANY);
      break;
    }
    assert.equal(ready.json.error.code, 'CHORI_NOT_READY');
    await sleep(PROBE_INTERVAL_MS);
  }
  assert.equal(seen[0], 503, 'not ready at first');
  const models = await call(url, 'GET', '/models');
  assert.equal(models.json.models.length, MANY, 'ready means every model is loaded');
  server.child.kill('SIGTERM');
  assert.deepEqual(await server.exited, { code: 0, signal: null });
  assert.match(server.lines.join('\n'), / info stopping signal=SIGTERM while=serving\n/);
});

test('--allow-partial serves the models that load and reports those that did not', async (t) => {
  const server = startCli(['--allow-partial', '--log-format', 'json', '--model', `good=${modelPath}`, '--model', `bad=${missing}`]);
  t.after(() => server.child.kill('SIGKILL'));
  // startCli matches the text form; JSON lines carry the URL in a field.
  const url = await new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const listening = server.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'listening');
      if (listening) clearInterval(timer), resolve(listening.url);
    }, 10);
    server.exited.then(() => (clearInterval(timer), reject(new Error(`exited: ${server.stderr()}`))));
  });
  const logs = server.lines.map((l) => JSON.parse(l));
  const warning = logs.find((l) => l.msg === 'model failed to load');
  assert.deepEqual({ level: warning.level, model: warning.model, code: warning.code }, { level: 'warn', model: 'bad', code: 'CHORI_MODEL_LOAD' });
  assert.match(warning.error, /cannot open model file '\/nonexistent\/chori-missing\.pt'/);
  const listening = logs.find((l) => l.msg === 'listening');
  assert.deepEqual([listening.models, listening.failed], ['good', 'bad']);

  const ready = await call(url, 'GET', '/readyz');
  assertConforms('GET', '/readyz', ready);
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.json.models, ['good']);

  const models = await call(url, 'GET', '/models');
  assertConforms('GET', '/models', models);
  assert.deepEqual(models.json.models.map((m) => m.name), ['good']);
  assert.deepEqual(models.json.failed.map((f) => [f.name, f.error.code]), [['bad', 'CHORI_MODEL_LOAD']]);

  const image = fs.readFileSync(firstImage('.jpg'));
  const good = await call(url, 'POST', '/models/good/predict', { body: image });
  assert.equal(good.status, 200, good.text);
  const bad = await call(url, 'POST', '/models/bad/predict', { body: image });
  assertConforms('POST', '/models/{name}/predict', bad);
  assert.equal(bad.status, 503);
  assert.match(bad.json.error.message, /model "bad" is not served: it failed to load at start \(CHORI_MODEL_LOAD: /);

  server.child.kill('SIGTERM');
  assert.deepEqual(await server.exited, { code: 0, signal: null });
});

test('--allow-partial with no model that loads still exits 1, naming each failure', async () => {
  const server = startCli(['--allow-partial', '--model', `one=${missing}`, '--model', `two=${missing}`]);
  const { code } = await server.exited;
  assert.equal(code, 1);
  assert.match(server.stderr(), /^chori-torch: CHORI_MODEL_LOAD: no model could be loaded: "one" \(CHORI_MODEL_LOAD: cannot open model file .*\); "two" \(CHORI_MODEL_LOAD: /);
  assert.equal(server.lines.filter((l) => / warn model failed to load model=(one|two) code=CHORI_MODEL_LOAD /.test(l)).length, 2);
  assert.doesNotMatch(server.lines.join('\n'), / listening url=/);
});

test('without --allow-partial the first failure stops the start; the later models are not loaded', async () => {
  const server = startCli(['--model', `good=${modelPath}`, '--model', `bad=${missing}`, '--model', `later=${modelPath}`]);
  const { code } = await server.exited;
  assert.equal(code, 1);
  assert.match(server.stderr(), /^chori-torch: CHORI_MODEL_LOAD: model "bad" failed to load: cannot open model file '\/nonexistent\/chori-missing\.pt'/);
  assert.ok(!server.lines.some((l) => /model loaded model=later/.test(l)));
  assert.match(server.lines.at(-1), / info stopped forced=false$/);
});

test('serve({ allowPartial }) from JavaScript: failed() lists what did not load; all failing rejects', async () => {
  const server = await startServer({ models: { good: modelPath, bad: missing }, allowPartial: true });
  try {
    assert.equal(server.ready, true);
    assert.deepEqual(server.models().map((m) => m.name), ['good']);
    assert.deepEqual(server.failed().map((f) => [f.name, f.error.code]), [['bad', 'CHORI_MODEL_LOAD']]);
    const warning = server.logs.find((l) => l.msg === 'model failed to load');
    assert.equal(warning.level, 'warn');
  } finally {
    await server.close();
  }
  await assert.rejects(startServer({ models: { bad: missing }, allowPartial: true }), { code: 'CHORI_MODEL_LOAD', message: /no model could be loaded: "bad"/ });
  await assert.rejects(startServer({ models: { good: modelPath, bad: missing } }), { code: 'CHORI_MODEL_LOAD', message: /^model "bad" failed to load: / });
  await assert.rejects(startServer({ allowPartial: 1 }), { code: 'CHORI_INVALID_ARGUMENT', message: 'Expected a boolean for options.allowPartial but received 1 of type number' });
});

test('a model that failed at start loads once its file is fixed: by POST reload or --watch', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chori-partial-'));
  const late = path.join(dir, 'late.pt');
  const server = await startServer({ models: { good: modelPath, late }, allowPartial: true, watch: true, watchIntervalMs: 20 });
  try {
    const still = await call(server.managementUrl, 'POST', '/models/late/reload');
    assertConforms('POST', '/models/{name}/reload', still);
    assert.equal(still.json.error.code, 'CHORI_MODEL_LOAD');
    assert.match(still.json.error.message, /; "late" is still not served$/);

    fs.copyFileSync(modelPath, late); // --watch sees the file appear
    const until = Date.now() + 10_000;
    while (server.failed().length > 0) {
      assert.ok(Date.now() < until, 'timed out waiting for --watch to load the fixed file');
      await sleep(20);
    }
    assert.deepEqual(server.models().map((m) => [m.name, m.version]), [['good', 1], ['late', 1]]);
    const res = await call(server.url, 'POST', '/models/late/predict', { body: fs.readFileSync(firstImage('.jpg')) });
    assert.equal(res.status, 200, res.text);
  } finally {
    await server.close();
  }
});
