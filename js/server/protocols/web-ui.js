'use strict';
// The web page (GET /): a person tries the model in a browser, an operator sees the replica's
// health. The page is the files in js/server/ui/, shipped in the package and read once at start;
// it calls the JSON API like any client (POST /models/NAME/predict, GET /models) plus
// GET /status.json. A strict Content-Security-Policy: only this server's own scripts, styles and
// connections; images only from the files the user picks (blob:). `--no-ui` mounts nothing.

const fs = require('node:fs');
const path = require('node:path');
const { serverCodes, ServerError } = require('../core/errors');
const { errorAnswer } = require('./chori-rest');
const { status } = require('./web-ui-status');

const UI_DIR = path.join(__dirname, '..', 'ui');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
const ASSET_NAME = /^[a-z0-9-]+\.(?:js|css|svg)$/;

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/** The page's files: Map(name → { type, bytes }), read once. */
function readAssets() {
  const assets = new Map();
  for (const name of fs.readdirSync(UI_DIR)) {
    const type = TYPES[path.extname(name)];
    if (type) assets.set(name, { type, bytes: fs.readFileSync(path.join(UI_DIR, name)) });
  }
  return assets;
}

function routes({ dataPlane, options }) {
  if (options.noUi) return [];
  const assets = readAssets();
  const file = (name) => {
    const asset = assets.get(name);
    if (!asset) throw new ServerError(serverCodes.NOT_FOUND, `no page asset named ${JSON.stringify(name)}`);
    return { status: 200, headers: { 'Content-Type': asset.type, 'Cache-Control': 'no-cache', ...SECURITY_HEADERS }, bytes: asset.bytes };
  };
  return [
    { route: '/', pattern: /^\/$/, access: 'public', methods: { GET: () => file('index.html') } },
    {
      route: '/ui/:file', pattern: /^\/ui\/([^/]+)$/, access: 'public',
      methods: { GET: (ctx, name) => file(ASSET_NAME.test(name) ? name : '') },
    },
    {
      // The same counters as /metrics, so the same key where /metrics needs one.
      route: '/status.json', pattern: /^\/status\.json$/, access: options.protectMetrics ? 'inference' : 'public',
      methods: { GET: async () => ({ status: 200, body: await status(dataPlane, options) }) },
    },
  ];
}

module.exports = { name: 'web-ui', routes, errorAnswer };
