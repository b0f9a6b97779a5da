'use strict';
// Shared by the tests/node/server*.test.js suites: start a real server on a loopback port, talk
// to it over HTTP (node:http, one connection per request), and check every answer against
// docs/openapi.json. Every address used here is loopback.

const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const Ajv2020 = require('ajv/dist/2020');
const chori = require('chori-torch');
const { encodePng } = require('../../js/server/png');
const { root, modelPath } = require('./helpers');

// A watchdog: these suites must end in well under a minute, whatever hangs (unref'd, it never
// keeps a finished process alive).
const WATCHDOG_MS = 90_000;
setTimeout(() => {
  console.error(`${path.basename(require.main?.filename ?? 'server test')}: still running after ${WATCHDOG_MS / 1000} s; giving up`);
  process.exit(1);
}, WATCHDOG_MS).unref();

const openapi = require(path.join(root, 'docs', 'openapi.json'));
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema(openapi, 'openapi.json');

/** A started server with its JSON log lines captured. options: serve() options. */
async function startServer(options = {}) {
  const lines = [];
  const server = await chori.serve({
    models: { model: modelPath },
    host: '127.0.0.1',
    port: 0,
    logFormat: 'json',
    logStream: { write: (line) => lines.push(JSON.parse(line)) },
    drainDelayMs: 0, // stops at once unless a test is about the drain delay
    ...options,
  });
  return Object.create(server, { logs: { value: lines } });
}

const cli = path.join(root, 'js', 'cli.js');

/**
 * Spawns `chori-torch serve --port 0 …`. `url` resolves from the log line named by `until`:
 * 'listening' (every model loaded) or 'loading models' (the port is bound, models start loading).
 * `exited` resolves { code, signal }; `lines` are stdout's lines so far, `stderr()` its text.
 * env: variables added to this process's environment for the child.
 */
function startCli(args, { until = 'listening', env = {} } = {}) {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--drain-delay-ms', '0', ...args], {
    cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
  });
  const lines = [];
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  // 'close', not 'exit': every line of stdout and stderr has been read by then.
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const pattern = new RegExp(` ${until} url=(\\S+)`);
  const url = new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      const m = line.match(pattern);
      if (m) resolve(m[1]);
    });
    exited.then(({ code }) => reject(new Error(`serve exited with ${code} before "${until}": ${stderr}`)));
  });
  url.catch(() => {}); // a test that expects the exit need not wait for the URL
  return { child, lines, exited, url, stderr: () => stderr };
}

/**
 * One HTTP request. body: Buffer | string | object (sent as JSON). Resolves
 * { status, headers, text, json } (json when the answer is JSON).
 */
function call(base, method, urlPath, { body, headers = {} } = {}) {
  let payload = body;
  if (body !== undefined && !Buffer.isBuffer(body) && typeof body !== 'string') {
    payload = JSON.stringify(body);
    headers = { 'content-type': 'application/json', ...headers };
  }
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(urlPath, base), { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const isJson = /^application\/json/.test(res.headers['content-type'] ?? '');
        resolve({ status: res.statusCode, headers: res.headers, text, json: isJson && text ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A multipart/form-data body with the given parts: [{ name, filename?, type?, data }]. */
function multipart(parts) {
  const boundary = `----chori${Date.now().toString(16)}`;
  const chunks = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`));
    chunks.push(Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

function resolveRef(node) {
  return node?.$ref ? node.$ref.replace(/^#\//, '').split('/').reduce((o, k) => o[k], openapi) : node;
}

/**
 * Asserts that `res`, the answer to `method template` (an OpenAPI path such as
 * /models/{name}/predict), is documented: its status, its content type, its required headers,
 * and its JSON body against the schema. Unrouted paths and unsupported methods answer the
 * documented Error shape.
 */
function assertConforms(method, template, res) {
  const op = openapi.paths[template]?.[method.toLowerCase()];
  const contentType = (res.headers['content-type'] ?? '').split(';')[0];
  if (!op) {
    assert.ok([404, 405].includes(res.status), `${method} ${template} is not documented, yet answered ${res.status}`);
    return validate('#/components/schemas/Error', res.json, `${method} ${template}`);
  }
  const response = resolveRef(op.responses[String(res.status)]);
  assert.ok(response, `${method} ${template} answered ${res.status}, which docs/openapi.json does not list: ${res.text}`);
  const media = response.content?.[contentType];
  assert.ok(media, `${method} ${template} ${res.status}: content type ${contentType} is not documented`);
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    if (header.required) assert.ok(res.headers[name.toLowerCase()] !== undefined, `${method} ${template} ${res.status}: missing ${name}`);
  }
  if (contentType === 'application/json') validate(media.schema, res.json, `${method} ${template} ${res.status}`);
}

function validate(schemaOrRef, value, where) {
  const schema = typeof schemaOrRef === 'string' ? { $ref: `openapi.json${schemaOrRef}` } : rebase(schemaOrRef);
  const check = ajv.compile(schema);
  assert.ok(check(value), `${where}: ${ajv.errorsText(check.errors)}\n${JSON.stringify(value)}`);
}

// Inline schemas in the document refer to '#/components/...' of the document itself.
function rebase(schema) {
  return JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\//g, '"$ref":"openapi.json#/'));
}

/** A large PNG: decoding and resizing it takes tens of milliseconds, every time. */
let bigPng;
function largeImage() {
  bigPng ??= encodePng(3000, 3000);
  return bigPng;
}

function metricValue(text, name, labels) {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

module.exports = { startServer, startCli, call, multipart, assertConforms, largeImage, metricValue, openapi };
