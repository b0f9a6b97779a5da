'use strict';
// The web page (GET /) in real browsers: Debian's chromium and firefox-esr, headless, driven by
// puppeteer-core (CDP for Chromium, WebDriver BiDi for Firefox) against a real server on
// loopback. A demo image goes in through the file input as a person would pick it; what the page
// shows must be the server's own JSON answer for the same bytes, and the status panel must count
// the request. CHORI_SCREENSHOT=docs/web-ui.png writes the README's screenshot (Chromium) from the
// same run. A browser that is not installed is skipped, saying so; scripts/setup-system.sh
// --browser installs both.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { startServer, call, assertConforms } = require('./server-harness');
const { root, modelPath, firstImage, exampleImages, tempFile } = require('./helpers');
const { fromArgv } = require('../../js/server/options');
const { quantile } = require('../../js/server/protocols/web-ui-status');

const WAIT_MS = 15_000;

// Root (CI, containers) has no user namespace sandbox for Chromium.
const BROWSERS = [
  {
    name: 'chromium', env: 'CHROME_PATH', paths: ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'],
    launch: { browser: 'chrome', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'] },
  },
  { name: 'firefox', env: 'FIREFOX_PATH', paths: ['/usr/bin/firefox-esr', '/usr/bin/firefox'], launch: { browser: 'firefox' } },
].map((b) => {
  const executablePath = [process.env[b.env], ...b.paths].find((p) => p && fs.existsSync(p));
  const skip = executablePath ? false : `no ${b.name} found (looked at $${b.env}, ${b.paths.join(', ')}); scripts/setup-system.sh --browser installs it`;
  return { ...b, executablePath, skip };
});
const [chromium] = BROWSERS;

function launch({ executablePath, launch: options }) {
  return require('puppeteer-core').launch({ executablePath, headless: true, ...options });
}

/** A page with every console error, page error and failed request collected in `problems`. */
async function openPage(browser, url, viewport = { width: 1200, height: 860 }) {
  const page = await browser.newPage();
  await page.setViewport(viewport);
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
  const response = await page.goto(url, { waitUntil: 'load' });
  return { page, problems, response };
}

/** The ranked rows the page shows: [{ label, score (the exact number it got), text }]. */
const shownRows = (page) => page.$$eval('#result .labels li', (items) => items.map((li) => ({
  label: li.querySelector('.name').textContent,
  score: Number(li.dataset.score),
  pct: li.querySelector('.pct').textContent,
  width: li.querySelector('.bar span').style.width,
})));

const cellText = (page, model, column) => page.$eval(`#models-body tr[data-model="${model}"] td:nth-child(${column})`, (td) => td.textContent);

for (const browserSpec of BROWSERS) {
  test(`${browserSpec.name}: the page classifies an uploaded image exactly as the JSON API does, and its status panel counts it`, { skip: browserSpec.skip }, (t) => classifyInPage(t, browserSpec));
}

async function classifyInPage(t, browserSpec) {
  const server = await startServer();
  t.after(() => server.close());
  const browser = await launch(browserSpec);
  t.after(() => browser.close());

  const { page, problems, response } = await openPage(browser, `${server.url}/`);
  assert.equal(response.status(), 200);
  const csp = response.headers()['content-security-policy'];
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.equal(response.headers()['x-content-type-options'], 'nosniff');

  // The model's facts, from GET /models.
  await page.waitForFunction(() => document.querySelector('#facts dd') !== null, { timeout: WAIT_MS });
  const facts = await page.$eval('#facts', (dl) => dl.textContent);
  const [described] = (await call(server.url, 'GET', '/models')).json.models;
  assert.ok(facts.includes(described.labels.join(', ')), facts);
  assert.ok(facts.includes(described.sha256.slice(0, 16)), facts);
  const provenance = await page.$eval('#provenance', (dl) => dl.textContent);
  assert.ok(provenance.includes(described.provenance.torch_version), `the artifact's provenance: ${provenance}`);
  assert.equal(await page.$eval('#model-field', (el) => el.hidden), true, 'one model: no selector');
  assert.equal(await page.$eval('#url-form', (el) => el.hidden), true, 'no --allow-url: no URL field');

  // Every control has a label; results are announced.
  const unlabeled = await page.$$eval('input, select', (els) => els.filter((e) => e.labels.length === 0).map((e) => e.id));
  assert.deepEqual(unlabeled, []);
  assert.equal(await page.$eval('#result', (el) => el.getAttribute('aria-live')), 'polite');

  // The file picker is reached from the keyboard, and its label then shows a focus ring.
  for (let i = 0; i < 5 && await page.evaluate(() => document.activeElement?.id) !== 'file'; i += 1) await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'file', 'Tab reaches the file picker');
  assert.equal(await page.$eval('label[for="file"]', (label) => getComputedStyle(label).outlineStyle), 'solid');

  const image = firstImage('.jpg');
  const expected = (await call(server.url, 'POST', '/models/model/predict', { body: fs.readFileSync(image) })).json;
  const input = await page.$('#file');
  await input.uploadFile(image);
  await page.waitForSelector('#result .labels li', { timeout: WAIT_MS });

  assert.equal(await page.$eval('#top-label', (el) => el.textContent), expected.label);
  const rows = await shownRows(page);
  assert.deepEqual(rows.map((r) => r.label), expected.topk.map((r) => r.label));
  assert.deepEqual(rows.map((r) => r.score), expected.topk.map((r) => r.score), 'the same bytes, the same scores');
  assert.deepEqual(rows.map((r) => r.pct), expected.topk.map((r) => `${(r.score * 100).toFixed(2)} %`));
  assert.match(rows[0].width, /^\d+(\.\d+)?%$/);
  assert.match(await page.$eval('#latency', (el) => el.textContent), /\d+\.\d ms · model v1$/);
  assert.equal(await page.$eval('#preview', (img) => img.hidden || img.naturalWidth === 0), false, 'the picked image is shown');

  // The status panel: two predictions (the JSON call and the page's), latency quantiles, ready.
  await page.waitForFunction(() => document.querySelector('#models-body tr[data-model="model"] td:nth-child(3)')?.textContent === '2', { timeout: WAIT_MS });
  const statusAnswer = await call(server.url, 'GET', '/status.json');
  assertConforms('GET', '/status.json', statusAnswer);
  const status = statusAnswer.json;
  assert.equal(status.models[0].ok, 2);
  assert.equal(await cellText(page, 'model', 3), String(status.models[0].ok));
  assert.match(await cellText(page, 'model', 6), /^\d+(\.\d)? ms$/, 'the model\'s own p50');
  assert.equal(await page.$eval('#state', (el) => el.dataset.state), 'ready');
  assert.match(await page.$eval('#p50', (el) => el.textContent), /^\d+(\.\d)? ms$/);
  assert.match(await page.$eval('#p99', (el) => el.textContent), /^\d+(\.\d)? ms$/);

  // A file that is no image: the server's error, shown in an alert.
  await input.uploadFile(path.join(root, 'package.json'));
  await page.waitForSelector('#error:not([hidden])', { timeout: WAIT_MS });
  assert.match(await page.$eval('#error', (el) => el.textContent), /^CHORI_UNSUPPORTED_FORMAT: /);
  assert.equal(await page.$eval('#error', (el) => el.getAttribute('role')), 'alert');
  await page.waitForFunction(() => document.querySelector('#rejections-body')?.textContent.includes('CHORI_UNSUPPORTED_FORMAT'), { timeout: WAIT_MS });
  // Nothing else went wrong than the refused predict call (which Chromium reports, Firefox not).
  assert.deepEqual(problems.filter((p) => !/status of 400/.test(p)), []);

  if (process.env.CHORI_SCREENSHOT && browserSpec === chromium) {
    // A few more predictions, each one a point of the latency sparkline, ending on a face.
    const images = [...exampleImages(), image];
    for (const [i, file] of images.entries()) {
      await input.uploadFile(file);
      await page.waitForFunction((n) => document.querySelector('#models-body tr[data-model="model"] td:nth-child(3)')?.textContent === String(n), { timeout: WAIT_MS }, 3 + i);
    }
    await page.evaluate(() => document.activeElement?.blur()); // no focus ring in the picture
    await page.screenshot({ path: path.resolve(root, process.env.CHORI_SCREENSHOT), fullPage: true });
  }
}

test('with several models the page offers a selector and predicts with the one chosen; --allow-url adds a URL field that works', { skip: chromium.skip }, async (t) => {
  const server = await startServer({ models: { faces: modelPath, second: modelPath }, allowUrl: true, allowPrivateUrls: true });
  t.after(() => server.close());
  const browser = await launch(chromium);
  t.after(() => browser.close());
  const { page, problems } = await openPage(browser, `${server.url}/`);

  await page.waitForSelector('#model-field:not([hidden])', { timeout: WAIT_MS });
  assert.deepEqual(await page.$$eval('#model option', (os) => os.map((o) => o.value)), ['faces', 'second']);
  await page.waitForSelector('#url-form:not([hidden])', { timeout: WAIT_MS });
  await page.select('#model', 'second');
  assert.match(await page.$eval('#facts', (dl) => dl.textContent), /second \(version 1\)/);

  await (await page.$('#file')).uploadFile(firstImage('.png'));
  await page.waitForSelector('#result .labels li', { timeout: WAIT_MS });
  assert.match(await page.$eval('#latency', (el) => el.textContent), / second v1$/);
  await page.waitForFunction(() => document.querySelector('#models-body tr[data-model="second"] td:nth-child(3)')?.textContent === '1', { timeout: WAIT_MS });
  assert.equal(await cellText(page, 'faces', 3), '0');

  // A URL: the server fetches it (here from an image server of this test's own, on loopback).
  const jpeg = fs.readFileSync(firstImage('.jpg'));
  const images = http.createServer((req, res) => res.end(jpeg));
  await new Promise((resolve) => images.listen(0, '127.0.0.1', resolve));
  t.after(() => images.close());
  const imageUrl = `http://127.0.0.1:${images.address().port}/face.jpg`;
  const expected = (await call(server.url, 'GET', `/models/second/predict?url=${encodeURIComponent(imageUrl)}`)).json;
  await page.type('#url', imageUrl);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#models-body tr[data-model="second"] td:nth-child(3)')?.textContent === '3', { timeout: WAIT_MS });
  assert.deepEqual((await shownRows(page)).map((r) => [r.label, r.score]), expected.topk.map((r) => [r.label, r.score]));
  assert.equal(await page.$eval('#preview', (img) => img.hidden), true, 'no stale preview: the page never loads the URL itself');
  assert.deepEqual(problems, []);
});

test('with an inference key the page asks for it, sends it as a bearer token and keeps it in the tab only', { skip: chromium.skip }, async (t) => {
  const key = 'web-ui-inference-key-0123456789abcdef';
  const keyFile = tempFile('inference.key', `${key}\n`);
  const server = await startServer({ inferenceKeyFile: keyFile, protectMetrics: true });
  t.after(() => server.close());
  const browser = await launch(chromium);
  t.after(() => browser.close());
  const refused = await call(server.url, 'GET', '/status.json');
  assert.equal(refused.status, 401, 'with --protect-metrics, /status.json needs the key as /metrics does');
  assertConforms('GET', '/status.json', refused);
  assert.equal((await call(server.url, 'GET', '/')).status, 200, 'the page itself is public');
  const { page, problems } = await openPage(browser, `${server.url}/`);

  // GET /models (and, with --protect-metrics, /status.json) answer 401: the page asks.
  await page.waitForSelector('#key-form:not([hidden])', { timeout: WAIT_MS });
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'key', 'the key field has the focus');
  await page.type('#key', 'not-the-key-0123456789abcdef');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => !document.getElementById('key-form').hidden && /not the inference key/.test(document.getElementById('key-why').textContent), { timeout: WAIT_MS });
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused key is forgotten');

  await page.type('#key', key);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#facts dd') !== null, { timeout: WAIT_MS });
  await (await page.$('#file')).uploadFile(firstImage('.jpg'));
  await page.waitForSelector('#result .labels li', { timeout: WAIT_MS });
  await page.waitForFunction(() => document.getElementById('state').dataset.state === 'ready', { timeout: WAIT_MS });
  const stored = await page.evaluate(() => ({ session: Object.values(sessionStorage), local: localStorage.length, cookie: document.cookie }));
  assert.deepEqual(stored, { session: [key], local: 0, cookie: '' });
  // The refusals (401s before the key, 403s for the wrong one) are all the browser reports.
  assert.deepEqual(problems.filter((p) => !/status of 40[13]/.test(p)), []);
});

test('a stopping server shows as draining on the status panel', { skip: chromium.skip }, async (t) => {
  const server = await startServer({ drainDelayMs: 2500 });
  const browser = await launch(chromium);
  t.after(() => browser.connected && browser.close());
  const { page, problems } = await openPage(browser, `${server.url}/`);
  await page.waitForFunction(() => document.getElementById('state').dataset.state === 'ready', { timeout: WAIT_MS });
  const closed = server.close(); // not ready at once, still answering for the drain delay
  await page.waitForFunction(() => document.getElementById('state').dataset.state === 'draining', { timeout: WAIT_MS });
  assert.match(await page.$eval('#state', (el) => el.textContent), /Draining/);
  assert.deepEqual(problems, []);
  // Gone before the port closes: its next refresh would fail (as it should), and its idle
  // connections would hold the stop up until --shutdown-timeout-ms.
  await browser.close();
  assert.deepEqual(await closed, { forced: false });
});

test('--no-ui: GET /, its files and /status.json answer 404', async (t) => {
  assert.equal(fromArgv(['--no-ui']).options.noUi, true);
  assert.equal(fromArgv([]).options.noUi, false);
  const server = await startServer({ noUi: true });
  t.after(() => server.close());
  for (const p of ['/', '/ui/app.js', '/status.json']) {
    const res = await call(server.url, 'GET', p);
    assert.equal(res.status, 404, p);
    assert.equal(res.json.error.code, 'CHORI_NOT_FOUND', p);
    assertConforms('GET', p === '/ui/app.js' ? '/ui/{file}' : p, res);
  }
  assert.equal((await call(server.url, 'GET', '/healthz')).status, 200, 'the API is still served');
});

test('the page files: only the shipped ones, each with its type and the security headers', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const shipped = fs.readdirSync(path.join(root, 'js', 'server', 'ui')).filter((f) => f !== 'index.html');
  assert.ok(shipped.includes('app.js') && shipped.includes('style.css'), shipped.join(', '));
  assertConforms('GET', '/', await call(server.url, 'GET', '/'));
  for (const name of shipped) {
    const res = await call(server.url, 'GET', `/ui/${name}`);
    assertConforms('GET', '/ui/{file}', res);
    assert.equal(res.status, 200, name);
    assert.equal(res.text, fs.readFileSync(path.join(root, 'js', 'server', 'ui', name), 'utf8'), name);
    assert.match(res.headers['content-type'], { js: /^text\/javascript/, css: /^text\/css/, svg: /^image\/svg\+xml/ }[name.split('.').pop()], name);
    assert.ok(res.headers['content-security-policy'], name);
  }
  for (const p of ['/ui/index.html', '/ui/missing.js', '/ui/..%2f..%2fpackage.json', '/ui/sub/app.js']) {
    assert.equal((await call(server.url, 'GET', p)).status, 404, p);
  }
  // No inline script or style anywhere: the CSP would block them.
  const html = (await call(server.url, 'GET', '/')).text;
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i);
});

test('status.json quantiles are Prometheus\' histogram_quantile over the buckets', () => {
  const buckets = [{ le: 0.001, count: 0 }, { le: 0.005, count: 50 }, { le: 0.01, count: 90 }, { le: 0.1, count: 100 }, { le: Infinity, count: 100 }];
  assert.equal(quantile(0.5, buckets), 0.001 + (0.004 * 50) / 50); // the 50th of 100 closes the 1–5 ms bucket
  assert.ok(Math.abs(quantile(0.7, buckets) - (0.005 + (0.005 * 20) / 40)) < 1e-12);
  assert.ok(Math.abs(quantile(0.99, buckets) - (0.01 + (0.09 * 9) / 10)) < 1e-12);
  assert.equal(quantile(0.5, [{ le: 0.1, count: 0 }, { le: Infinity, count: 4 }]), 0.1, 'past the last bound: that bound');
  assert.equal(quantile(0.5, [{ le: 0.1, count: 0 }, { le: Infinity, count: 0 }]), null, 'no observations');
});
