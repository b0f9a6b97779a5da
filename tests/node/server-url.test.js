'use strict';
// GET /predict?url=… end to end. These tests make real connections, so they run inside a network
// namespace that has only loopback (`unshare -n`, then `ip link set lo up`): even if the guard
// under test were broken, no packet could leave the machine. Run normally, this file re-executes
// itself in such a namespace; where unshare is not permitted (it needs root or CAP_SYS_ADMIN)
// it skips, and server-guard.test.js still checks every refusal decision without a connection.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');

const INSIDE = 'CHORI_TEST_NETNS';

if (process.env[INSIDE] !== '1') {
  test('?url= fetching, run inside a network namespace with only loopback', (t) => {
    const probe = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      t.skip(`unshare -n is not available here (${probe.error?.message ?? probe.stderr.trim()}); the guard's decisions are covered by server-guard.test.js`);
      return;
    }
    const env = { ...process.env, [INSIDE]: '1' };
    delete env.NODE_TEST_CONTEXT; // the child reports for itself; we read its exit status
    const child = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" --test-reporter=spec "$1"', process.execPath, __filename], {
      env,
      encoding: 'utf8',
      timeout: 60000,
    });
    for (const line of `${child.stdout}${child.stderr}`.trim().split('\n')) t.diagnostic(line);
    assert.equal(child.status, 0, `the namespaced tests failed:\n${child.stdout}\n${child.stderr}`);
  });
} else {
  insideTheNamespace();
}

function insideTheNamespace() {
  const dns = require('node:dns');
  const fs = require('node:fs');
  const http = require('node:http');
  const os = require('node:os');
  const { startServer, call, assertConforms } = require('./server-harness');
  const { firstImage } = require('./helpers');
  const { createGuard, createFetcher } = require('../../js/server/url-fetch');
  const { refusalReason } = require('../../js/server/address-policy');

  const interfaces = Object.keys(os.networkInterfaces());
  if (interfaces.some((name) => name !== 'lo')) {
    throw new Error(`refusing to run: this namespace has interfaces other than loopback (${interfaces.join(', ')})`);
  }

  // The image server: loopback only, recording every path it is asked for.
  const requested = [];
  const LIMIT = 64 * 1024;
  const images = http.createServer((req, res) => {
    requested.push(req.url);
    const routes = {
      '/face.jpg': () => res.end(fs.readFileSync(firstImage('.jpg'))),
      '/notes.txt': () => res.end('not an image'),
      '/redirect/face': () => res.writeHead(302, { location: '/face.jpg' }).end(),
      '/redirect/loop': () => res.writeHead(302, { location: '/redirect/loop' }).end(),
      '/redirect/metadata': () => res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end(),
      '/huge': () => res.writeHead(200, { 'content-length': LIMIT * 4 }).end(Buffer.alloc(LIMIT * 4)),
      '/huge-chunked': () => {
        res.writeHead(200);
        for (let i = 0; i < 8; i += 1) res.write(Buffer.alloc(LIMIT / 2));
        res.end();
      },
      '/slow': () => {}, // never answers
    };
    (routes[req.url] ?? (() => res.writeHead(404).end()))();
  });
  let base;
  let open;
  let guarded;

  test.before(async () => {
    await new Promise((resolve) => images.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${images.address().port}`;
    open = await startServer({ allowUrl: true, allowPrivateUrls: true, urlTimeoutMs: 300, urlMaxBytes: LIMIT });
    guarded = await startServer({
      allowUrl: true,
      // A name that resolves to loopback; other names go to the system resolver (/etc/hosts here).
      resolve: (host) => (host === 'loopback.test' ? Promise.resolve([{ address: '127.0.0.1', family: 4 }]) : dns.promises.lookup(host, { all: true })),
    });
  });
  test.after(async () => {
    images.closeAllConnections();
    images.close();
    await Promise.all([open?.close(), guarded?.close()]);
  });

  const predictUrl = (server, url, route = '/predict') => call(server.url, 'GET', `${route}?url=${encodeURIComponent(url)}`);

  test('with --allow-private-urls, a loopback image is fetched and classified', async () => {
    const res = await predictUrl(open, `${base}/face.jpg`);
    assertConforms('GET', '/predict', res);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.label, 'Face');

    const named = await call(open.url, 'GET', `/models/model/predict?topk=1&url=${encodeURIComponent(`${base}/redirect/face`)}`);
    assertConforms('GET', '/models/{name}/predict', named);
    assert.equal(named.json.label, 'Face');
    assert.equal(named.json.topk.length, 1);
  });

  test('fetch limits: size (declared or streamed), time, redirects, status, and the bytes themselves', async () => {
    const cases = [
      ['/huge', 413, 'CHORI_URL_TOO_LARGE'],
      ['/huge-chunked', 413, 'CHORI_URL_TOO_LARGE'],
      ['/slow', 504, 'CHORI_URL_TIMEOUT'],
      ['/redirect/loop', 502, 'CHORI_URL_FETCH'],
      ['/missing', 502, 'CHORI_URL_FETCH'],
      ['/notes.txt', 400, 'CHORI_UNSUPPORTED_FORMAT'],
    ];
    for (const [route, status, code] of cases) {
      const res = await predictUrl(open, `${base}${route}`);
      assertConforms('GET', '/predict', res);
      assert.deepEqual([res.status, res.json.error.code], [status, code], `${route}: ${res.text}`);
    }
    for (const [query, message] of [['', /needs \?url=/], ['?url=ftp://127.0.0.1/x', /only http and https/], ['?url=%2Fface.jpg', /absolute http or https URL/]]) {
      const res = await call(open.url, 'GET', `/predict${query}`);
      assertConforms('GET', '/predict', res);
      assert.equal(res.status, 400);
      assert.match(res.json.error.message, message);
    }
  });

  test('the guard refuses 127.0.0.1, 10.0.0.1, 169.254.169.254, [::1], localhost and a name resolving to loopback', async () => {
    const before = requested.length;
    const port = images.address().port;
    const urls = [
      `http://127.0.0.1:${port}/face.jpg`,
      'http://10.0.0.1/face.jpg',
      'http://169.254.169.254/latest/meta-data/',
      `http://[::1]:${port}/face.jpg`,
      `http://localhost:${port}/face.jpg`,
      `http://loopback.test:${port}/face.jpg`,
    ];
    for (const url of urls) {
      const res = await predictUrl(guarded, url);
      assertConforms('GET', '/predict', res);
      assert.equal(res.status, 403, `${url}: ${res.text}`);
      assert.equal(res.json.error.code, 'CHORI_URL_FORBIDDEN');
    }
    assert.equal(requested.length, before, 'nothing was fetched');
  });

  test('every redirect is checked again: a public-looking hop cannot lead to the metadata address', async () => {
    // A policy that trusts 127.0.0.1 stands in for a public server that answers with a redirect.
    const guard = createGuard({ refuse: (address) => (address === '127.0.0.1' ? null : refusalReason(address)) });
    const fetchImage = createFetcher({ guard, maxBytes: LIMIT, timeoutMs: 1000, maxRedirects: 3 });
    assert.ok((await fetchImage(`${base}/redirect/face`)).length > 0);
    await assert.rejects(fetchImage(`${base}/redirect/metadata`), (err) => {
      assert.equal(err.code, 'CHORI_URL_FORBIDDEN');
      assert.match(err.message, /169\.254\.169\.254.*link-local/);
      return true;
    });
  });
}
