'use strict';
// `chori-torch serve` run as a user runs it: a child process on a loopback port, curl against
// it, its log lines, SIGTERM, and its usage errors.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawnSync, execFileSync } = require('node:child_process');
const { setTimeout: sleep } = require('node:timers/promises');
const { call, startCli } = require('./server-harness');
const { root, modelPath, firstImage } = require('./helpers');
const { SPEC } = require('../../js/server/options');

const cli = path.join(root, 'js', 'cli.js');
const run = (...args) => spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 20000 });

test('serve answers `curl --data-binary @image.jpg …/predict`, logs a line per request, drains on SIGTERM', async (t) => {
  const server = startCli(['--model', `faces=${modelPath}`, '--model', `other=${modelPath}`, '--optimize', 'none', '--workers', '2']);
  t.after(() => server.child.kill('SIGKILL'));
  const url = await server.url;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const image = firstImage('.jpg');
  let answer;
  if (spawnSync('curl', ['--version']).status === 0) {
    answer = JSON.parse(execFileSync('curl', ['-sS', '--data-binary', `@${image}`, `${url}/predict`], { encoding: 'utf8' }));
  } else {
    // What curl --data-binary sends: the bytes, labelled as a form.
    answer = (await call(url, 'POST', '/predict', { body: fs.readFileSync(image), headers: { 'content-type': 'application/x-www-form-urlencoded' } })).json;
  }
  assert.equal(answer.label, 'Face');
  assert.deepEqual(answer.model, { name: 'faces', version: 1 });
  const models = await call(url, 'GET', '/models');
  assert.deepEqual(models.json.models.map((m) => m.name), ['faces', 'other']);
  assert.deepEqual(models.json.models.map((m) => m.optimize), ['none', 'none'], '--optimize reaches load()');
  assert.deepEqual(models.json.models.map((m) => m.workers), [2, 2], '--workers reaches load()');
  await sleep(50);
  assert.ok(
    server.lines.some((l) => /^\S+Z POST \/predict 200 "Face" model=faces@1 \d+\.\d ms$/.test(l)),
    `a text log line for the request, in:\n${server.lines.join('\n')}`,
  );

  // SIGTERM with a request in flight: it is answered, new connections are refused, exit 0.
  const body = fs.readFileSync(image);
  let req;
  const inFlight = new Promise((resolve, reject) => {
    req = http.request(`${url}/predict`, { method: 'POST', agent: false, headers: { 'content-length': body.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks)) }));
    });
    req.on('error', reject);
    req.write(body.subarray(0, 100));
  });
  await sleep(100);
  server.child.kill('SIGTERM');
  await sleep(200);
  await assert.rejects(call(url, 'GET', '/healthz'), { code: 'ECONNREFUSED' });
  req.end(body.subarray(100));
  const res = await inFlight;
  assert.equal(res.status, 200);
  assert.equal(res.json.label, 'Face');
  assert.deepEqual(await server.exited, { code: 0, signal: null });
  assert.match(server.lines.at(-1), / info stopped forced=false$/);
});

test('serve refuses bad flags with exit status 2 and a sentence', () => {
  const cases = [
    [['--port', 'http'], /Expected an integer between 0 and 65535 for --port but received "http"/],
    [['--slo-ms', '0'], /Expected an integer between 1 and 3600000 for --slo-ms but received 0/],
    [['--log-format', 'xml'], /one of text, json, none for --log-format/],
    [['--default-label', 'Face'], /--default-label needs --slo-ms/],
    [['--allow-private-urls'], /--allow-private-urls needs --allow-url/],
    [['--max-batch', '100', '--max-queue', '10'], /--max-batch \(100\) must not exceed --max-queue \(10\)/],
    [['--model', 'a=x.pt', '--model', 'a=y.pt'], /two models are named "a"/],
    [['--modle', 'x.pt'], /Unknown option '--modle'/],
    [['export/model.pt'], /serve takes no positional arguments/],
  ];
  for (const [args, message] of cases) {
    const r = run('serve', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

test('serve with a missing model exits 1 with CHORI_MODEL_LOAD, naming the model and the file', () => {
  const r = run('serve', '--port', '0', '--model', 'broken=/nonexistent/model.pt');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^chori-torch: CHORI_MODEL_LOAD: model "broken" failed to load: cannot open model file '\/nonexistent\/model\.pt'/);
  assert.match(r.stdout, / error model failed to load model=broken code=CHORI_MODEL_LOAD /);
});

test('--help names serve; serve --help lists every option', () => {
  const help = run('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /chori-torch serve/);
  const serveHelp = run('serve', '--help');
  assert.equal(serveHelp.status, 0);
  for (const spec of SPEC) {
    const flag = spec.flag ?? spec.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    assert.ok(serveHelp.stdout.includes(`--${flag}`), flag);
  }
});
