'use strict';
// `chori-torch serve` configured by CHORI_TORCH_<FLAG> variables (flags win) and --model-dir
// (KServe's /mnt/models): parsing only, no model is loaded.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fromArgv, envNameOf, SPEC } = require('../../js/server/options');

function modelDir(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chori-model-dir-'));
  for (const f of files) fs.writeFileSync(path.join(dir, f), '');
  return dir;
}

test('every flag has its variable: CHORI_TORCH_ and the flag in capitals', () => {
  const names = SPEC.map(envNameOf);
  assert.ok(names.includes('CHORI_TORCH_MAX_QUEUE'));
  assert.ok(names.includes('CHORI_TORCH_MODEL') && names.includes('CHORI_TORCH_MODEL_DIR'));
  assert.strictEqual(new Set(names).size, names.length);
});

test('variables configure what no flag says, and flags win', () => {
  const env = { CHORI_TORCH_HOST: '0.0.0.0', CHORI_TORCH_PORT: '9000', CHORI_TORCH_BATCH: 'true', CHORI_TORCH_TOPK: '1' };
  const { options } = fromArgv(['--topk', '3', '--model', 'export/model.pt'], env);
  assert.strictEqual(options.host, '0.0.0.0');
  assert.strictEqual(options.port, 9000);
  assert.strictEqual(options.batch, true);
  assert.strictEqual(options.topk, 3);
  const unset = fromArgv(['--model', 'm.pt'], { CHORI_TORCH_BATCH: '0', CHORI_TORCH_SLO_MS: '' }).options;
  assert.strictEqual(unset.batch, false);
  assert.strictEqual(unset.sloMs, undefined);
});

test('a bad variable is a usage error naming it', () => {
  for (const [name, value] of [['CHORI_TORCH_PORT', 'eighty'], ['CHORI_TORCH_BATCH', 'maybe'], ['CHORI_TORCH_LOG_FORMAT', 'xml']]) {
    assert.throws(() => fromArgv(['--model', 'm.pt'], { [name]: value }),
      (err) => err.code === 'CHORI_INVALID_ARGUMENT' && err.message.includes(name) && err.message.includes(value));
  }
});

test('--model-dir serves every artifact, model.pt first, the others by name', () => {
  const dir = modelDir(['zebra.pt', 'model.pt', 'alpha.pt2', 'golden.json', 'README.md']);
  const { options } = fromArgv(['--model-dir', dir], {});
  assert.deepStrictEqual(options.models.map((m) => m.name), ['model', 'alpha', 'zebra']);
  assert.strictEqual(options.models[0].path, path.join(dir, 'model.pt'));
  const noModelPt = modelDir(['b.pt', 'a.pt']);
  assert.deepStrictEqual(fromArgv([], { CHORI_TORCH_MODEL_DIR: noModelPt }).options.models.map((m) => m.name), ['a', 'b']);
});

test('a model named by flag or CHORI_TORCH_MODEL replaces the directory of the environment', () => {
  const dir = modelDir(['model.pt', 'other.pt']);
  const byFlag = fromArgv(['--model', 'x=/models/x.pt'], { CHORI_TORCH_MODEL_DIR: dir }).options;
  assert.deepStrictEqual(byFlag.models, [{ name: 'x', path: '/models/x.pt' }]);
  const byVariable = fromArgv([], { CHORI_TORCH_MODEL_DIR: dir, CHORI_TORCH_MODEL: '/models/y.pt' }).options;
  assert.deepStrictEqual(byVariable.models, [{ name: 'y', path: '/models/y.pt' }]);
  assert.throws(() => fromArgv(['--model', 'a.pt', '--model-dir', dir], {}), /--model or --model-dir, not both/);
});

test('--model-dir refuses a directory without artifacts, and a missing one', () => {
  assert.throws(() => fromArgv(['--model-dir', modelDir(['golden.json'])], {}), /at least one model artifact \(\.pt, \.pt2\)/);
  assert.throws(() => fromArgv(['--model-dir', '/no/such/dir'], {}), /readable directory of models \(ENOENT\)/);
});
