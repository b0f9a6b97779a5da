'use strict';
// The chori-torch command line, run as a user would.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { root, modelPath, imagesDir, exampleImages, tempFile } = require('./helpers');

const cli = path.join(root, 'js', 'cli.js');
const run = (...args) => spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8' });

test('predict prints a table row per image', () => {
  const r = run('predict', imagesDir, '--model', modelPath);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^file\s+label\s+score\s+time$/);
  assert.equal(lines.length, exampleImages().length + 1);
  for (const line of lines.slice(1)) assert.match(line, /(Not face|Face)\s+[01]\.\d{4}\s+\d+\.\d ms$/);
});

test('predict --json prints one object per image with ranked labels', () => {
  const file = exampleImages()[0];
  const r = run('predict', file, '--model', modelPath, '--json', '--topk', '2');
  assert.equal(r.status, 0, r.stderr);
  const obj = JSON.parse(r.stdout);
  assert.equal(obj.file, file);
  assert.equal(obj.topk.length, 2);
  assert.equal(obj.label, obj.topk[0].label);
});

test('an undecodable file is reported with its code and exit status 1', () => {
  const bad = tempFile('broken.jpg', 'not an image');
  const r = run('predict', bad, exampleImages()[0], '--model', modelPath);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /broken\.jpg\s+ERROR\s+CHORI_UNSUPPORTED_FORMAT/);
});

test('usage errors exit 2 with a hint; --help and --version exit 0', () => {
  assert.equal(run('predict').status, 2);
  assert.equal(run('frobnicate').status, 2);
  assert.equal(run('predict', imagesDir, '--bogus').status, 2);
  const missing = run('predict', '/nonexistent.jpg');
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /nonexistent/);
  const help = run('--help');
  assert.equal(help.status, 0);
  for (const flag of ['--model', '--topk', '--json', '--threads']) assert.ok(help.stdout.includes(flag), flag);
  assert.match(run('--version').stdout, /^\d+\.\d+\.\d+\n$/);
});

test('a missing model is CHORI_MODEL_LOAD, exit 1', () => {
  const r = run('predict', exampleImages()[0], '--model', '/nonexistent/model.pt');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /CHORI_MODEL_LOAD/);
});
