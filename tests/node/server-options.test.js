'use strict';
// The server's options: one table validates serve(options) and `chori-torch serve` flags, with
// errors that name the parameter as the caller wrote it. No model is loaded here.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { normalize, fromArgv } = require('../../js/server/options');
const chori = require('chori-torch');

test('defaults: loopback, port 8080, the default model, safe limits, URL fetching off', () => {
  const o = normalize({});
  assert.deepEqual(o.models, [{ name: 'model', path: chori.defaultModelPath() }]);
  assert.equal(o.host, '127.0.0.1');
  assert.equal(o.port, 8080);
  assert.equal(o.allowUrl, false);
  assert.equal(o.allowPrivateUrls, false);
  assert.equal(o.maxBodyBytes, 10 * 1024 * 1024);
  assert.equal(o.urlMaxBytes, o.maxBodyBytes);
  assert.equal(o.sloMs, undefined);
  assert.equal(o.logFormat, 'text');
  assert.ok(Object.isFrozen(o));
});

test('--model takes PATH or NAME=PATH, repeated; the first is the default', () => {
  const { options } = fromArgv(['--model', 'export/model.pt', '--model', 'v2=/srv/models/choripan-v2.pt', '--port', '0']);
  assert.deepEqual(options.models, [
    { name: 'model', path: path.resolve('export/model.pt') },
    { name: 'v2', path: '/srv/models/choripan-v2.pt' },
  ]);
  assert.equal(options.port, 0);
  // A path with "=" in it, but not a NAME= prefix, is a path.
  assert.equal(fromArgv(['--model', '/tmp/a=b/m.pt']).options.models[0].path, '/tmp/a=b/m.pt');
  assert.deepEqual(normalize({ models: { a: 'x.pt', b: 'y.pt' } }).models.map((m) => m.name), ['a', 'b']);
});

test('flags are typed and checked, with the flag in the message', () => {
  const o = fromArgv(['--slo-ms', '50', '--default-label', 'Not Choripan', '--allow-url', '--allow-private-urls', '--log-format', 'json']).options;
  assert.deepEqual([o.sloMs, o.defaultLabel, o.allowUrl, o.allowPrivateUrls, o.logFormat], [50, 'Not Choripan', true, true, 'json']);
  assert.throws(() => fromArgv(['--port', '8o8o']), /^TypeError: Expected an integer between 0 and 65535 for --port but received "8o8o" of type string$/);
  assert.throws(() => fromArgv(['--max-queue=-1']), /for --max-queue but received -1/);
  assert.equal(fromArgv(['--workers', '2']).options.workers, 2);
  assert.throws(() => fromArgv(['--workers', '0']), /between 1 and 64 for --workers/);
  assert.throws(() => fromArgv(['--model', 'my model.pt']), /model name in --model/);
  assert.throws(() => fromArgv(['--host', '']), /a non-empty string for --host/);
});

test('serve(options) errors name options.<key>, and unknown keys are refused', () => {
  assert.throws(() => normalize({ port: '8080' }), /Expected an integer between 0 and 65535 for options.port but received "8080" of type string/);
  assert.throws(() => normalize({ allowURL: true }), /options.allowURL/);
  assert.throws(() => normalize({ models: 'export/model.pt' }), /an object of model names to file paths for options.models/);
  assert.throws(() => normalize({ models: {} }), /at least one model for options.models/);
  assert.throws(() => normalize({ models: { a: 42 } }), /a model file path for options.models.a/);
  assert.throws(() => normalize({ logStream: {} }), /a writable stream for options.logStream/);
  assert.throws(() => normalize({ resolve: 'dns' }), /options.resolve/);
  assert.throws(() => fromArgv(['--resolve', 'x']), /Unknown option '--resolve'/, 'JS-only options are not flags');
  for (const err of [() => normalize({ port: -1 }), () => normalize({ maxBatch: 100 })]) {
    assert.throws(err, (e) => e instanceof TypeError && e.code === 'CHORI_INVALID_ARGUMENT');
  }
});
