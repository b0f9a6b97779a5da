'use strict';
// js/server/http/auth.js on its own: where keys come from, the generated key file (mode 0600),
// the bearer check (constant-time compare, counted failures) and TLS pairs (js/server/http/tls.js)
// with certificates made by openssl at test time.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const https = require('node:https');
const client = require('prom-client');
const { resolveKeys, createAuth, bearerToken, isLoopbackHost, grpcAuthorization, challenge, refusalError } = require('../../js/server/http/auth');
const { readPair, watchPair } = require('../../js/server/http/tls');
const { makeCertificate } = require('./certificates');

const INFERENCE = 'inference-key-0123456789abcdef';
const MANAGEMENT = 'management-key-0123456789abcdef';
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'chori-keys-'));

function keyFile(text) {
  const file = path.join(tempDir(), 'key');
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

test('loopback hosts are told from the rest', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(host), host);
  for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', '128.0.0.1']) assert.ok(!isLoopbackHost(host), host);
});

test('keys come from a file (trailing newline dropped) before the environment', () => {
  const env = { CHORI_TORCH_INFERENCE_KEY: 'env-inference-key-0123456789', CHORI_TORCH_MANAGEMENT_KEY: 'env-management-key-0123456789' };
  const fromFiles = resolveKeys({ inferenceKeyFile: keyFile(`${INFERENCE}\n`), managementKeyFile: keyFile(MANAGEMENT), managementHost: '127.0.0.1' }, env);
  assert.equal(fromFiles.inference, INFERENCE);
  assert.equal(fromFiles.management, MANAGEMENT);
  assert.match(fromFiles.sources.inference, /^--inference-key-file /);
  assert.equal(fromFiles.generatedFile, null);

  const fromEnv = resolveKeys({ managementHost: '127.0.0.1' }, env);
  assert.equal(fromEnv.inference, env.CHORI_TORCH_INFERENCE_KEY);
  assert.equal(fromEnv.management, env.CHORI_TORCH_MANAGEMENT_KEY);
  assert.deepEqual(fromEnv.sources, { inference: '$CHORI_TORCH_INFERENCE_KEY', management: '$CHORI_TORCH_MANAGEMENT_KEY' });

  assert.deepEqual(fromFiles.warnings, [], '0600 files');
  const shared = keyFile(INFERENCE);
  fs.chmodSync(shared, 0o644);
  const loose = resolveKeys({ inferenceKeyFile: shared, managementHost: '127.0.0.1' }, {});
  assert.equal(loose.inference, INFERENCE, 'a readable key file still works');
  assert.match(loose.warnings[0], /--inference-key-file .* is readable by others \(mode 644\); chmod 600 it/);

  const none = resolveKeys({ managementHost: '127.0.0.1' }, {});
  assert.deepEqual([none.inference, none.management, none.generatedFile], [null, null, null], 'loopback only: no key needed');
});

test('bad keys are refused without echoing them', () => {
  const cases = [
    [{ inferenceKeyFile: keyFile('short-key') }, /at least 16/],
    [{ inferenceKeyFile: keyFile('has a space inside the key') }, /one token/],
    [{ inferenceKeyFile: path.join(tempDir(), 'missing') }, /cannot read --inference-key-file .*ENOENT/],
    [{ inferenceKeyFile: keyFile(MANAGEMENT), managementKeyFile: keyFile(MANAGEMENT) }, /are the same/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => resolveKeys({ managementHost: '127.0.0.1', ...options }, {}), (err) => {
      assert.equal(err.code, 'CHORI_INVALID_ARGUMENT');
      assert.match(err.message, message);
      assert.ok(!err.message.includes(MANAGEMENT) && !err.message.includes('short-key'), `the key leaked: ${err.message}`);
      return true;
    });
  }
});

test('a management listener beyond loopback without a key gets a generated one, in a 0600 file', () => {
  const keys = resolveKeys({ managementHost: '0.0.0.0' }, {});
  assert.ok(keys.generatedFile);
  assert.equal(fs.statSync(keys.generatedFile).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(keys.generatedFile)).mode & 0o777, 0o700, 'a private directory of its own');
  const written = JSON.parse(fs.readFileSync(keys.generatedFile, 'utf8'));
  assert.equal(written.management, keys.management);
  assert.ok(keys.management.length >= 40);
  assert.equal(keys.inference, null, 'inference keys are only on when configured');
  assert.notEqual(resolveKeys({ managementHost: '0.0.0.0' }, {}).management, keys.management, 'a new key each start');

  // A chosen path: replaced (not written through) and still 0600, whatever was there.
  const chosen = path.join(tempDir(), 'keys.json');
  fs.writeFileSync(chosen, 'old', { mode: 0o644 });
  const again = resolveKeys({ managementHost: '10.1.2.3', generatedKeysFile: chosen }, {});
  assert.equal(again.generatedFile, chosen);
  assert.equal(fs.statSync(chosen).mode & 0o777, 0o600);
  assert.equal(JSON.parse(fs.readFileSync(chosen, 'utf8')).management, again.management);
});

test('bearer tokens: missing and malformed are 401, wrong ones 403, each counted', async () => {
  assert.deepEqual(bearerToken(undefined), { reason: 'missing' });
  assert.deepEqual(bearerToken('Basic dXNlcjpwYXNz'), { reason: 'malformed' });
  assert.deepEqual(bearerToken('Bearer '), { reason: 'malformed' });
  assert.deepEqual(bearerToken(`bearer ${INFERENCE}`), { token: INFERENCE });

  const register = new client.Registry();
  const auth = createAuth({ keys: { inference: INFERENCE, management: MANAGEMENT }, register, Counter: client.Counter });
  assert.equal(auth.check('public', undefined, 'inference'), null);
  assert.equal(auth.check('inference', `Bearer ${INFERENCE}`, 'inference'), null);
  assert.equal(auth.check('management', `Bearer ${MANAGEMENT}`, 'management'), null);
  assert.equal(auth.check('inference', undefined, 'inference').reason, 'missing');
  assert.equal(auth.check('inference', 'Token abc', 'inference').reason, 'malformed');
  const wrong = auth.check('management', `Bearer ${INFERENCE}`, 'management');
  assert.equal(wrong.reason, 'invalid', 'the inference key does not open management');
  assert.ok(!wrong.message.includes(INFERENCE));
  assert.equal(auth.check('inference', `Bearer ${INFERENCE}x`, 'inference').reason, 'invalid', 'a longer key is wrong too');
  const refusals = ['missing', 'malformed', 'invalid'].map((reason) => refusalError({ reason, message: reason }));
  assert.deepEqual(refusals.map((e) => e.code), ['CHORI_UNAUTHENTICATED', 'CHORI_UNAUTHENTICATED', 'CHORI_FORBIDDEN']);
  assert.equal(refusals[0].hints.wwwAuthenticate, challenge('missing'));
  assert.match(challenge('missing'), /^Bearer realm=/);
  assert.match(refusals[1].hints.wwwAuthenticate, /error="invalid_request"/);

  const text = await register.metrics();
  const count = (labels) => Number(text.match(new RegExp(`chori_auth_failures_total\\{${labels}\\} (\\d+)`))?.[1] ?? 0);
  assert.equal(count('listener="inference",reason="missing"'), 1);
  assert.equal(count('listener="inference",reason="malformed"'), 1);
  assert.equal(count('listener="inference",reason="invalid"'), 1);
  assert.equal(count('listener="management",reason="invalid"'), 1);

  const open = createAuth({ keys: { inference: null, management: null }, register: new client.Registry(), Counter: client.Counter });
  assert.equal(open.check('inference', undefined, 'inference'), null, 'no inference key configured: open');
  assert.equal(open.required('management'), false);
});

test('gRPC metadata: the one authorization value', () => {
  const metadata = (values) => ({ get: (key) => (key === 'authorization' ? values : []) });
  assert.equal(grpcAuthorization(metadata([])), undefined);
  assert.equal(grpcAuthorization(metadata([`Bearer ${INFERENCE}`])), `Bearer ${INFERENCE}`);
  assert.equal(bearerToken(grpcAuthorization(metadata(['Bearer a', 'Bearer b']))).reason, 'malformed', 'two values are refused');
});

/**
 * The SHA-256 fingerprint of the certificate an https server on `port` presents; verified against
 * `ca` when given.
 */
function servedFingerprint(port, ca) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/', ...(ca ? { ca } : { rejectUnauthorized: false }), agent: false }, (res) => {
      res.resume();
      resolve(res.socket.getPeerCertificate().fingerprint256);
    });
    req.on('error', reject);
    req.end();
  });
}

test('TLS: a mismatched pair is refused; a renewed pair is served without a restart', async () => {
  const first = makeCertificate('first');
  const other = makeCertificate('other');
  assert.throws(() => readPair({ cert: first.cert, key: other.key }), /not a usable pair/);
  assert.throws(() => readPair({ cert: path.join(first.dir, 'nope.pem'), key: first.key }), /cannot read --tls-cert/);

  const server = https.createServer(readPair(first), (req, res) => res.end('ok'));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const errors = [];
  let reloaded = 0;
  const stop = watchPair({ cert: first.cert, key: first.key }, [server], { intervalMs: 20, onReload: () => { reloaded += 1; }, onError: (e) => errors.push(e) });
  try {
    assert.equal(await servedFingerprint(port, fs.readFileSync(first.cert)), first.fingerprint);
    // A half-written renewal (new certificate, old key) keeps the old pair serving.
    const renewed = makeCertificate('renewed');
    fs.copyFileSync(renewed.cert, first.cert);
    for (let i = 0; i < 100 && errors.length === 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    assert.match(errors[0]?.message ?? '', /not a usable pair/);
    assert.equal(await servedFingerprint(port), first.fingerprint, 'the old pair serves until the new key arrives');
    fs.copyFileSync(renewed.key, first.key);
    for (let i = 0; i < 100 && reloaded === 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    assert.equal(reloaded, 1);
    assert.equal(await servedFingerprint(port, fs.readFileSync(renewed.cert)), renewed.fingerprint);
  } finally {
    stop();
    server.close();
  }
});
