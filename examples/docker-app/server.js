'use strict';
// A team's own service around chori-torch, without a framework: POST /classify with the image
// bytes answers {"label", "score"}; GET /healthz answers once the model is loaded. SIGTERM
// stops taking connections, lets the requests in flight finish and frees the model.
//   MODEL=/models/model.pt PORT=3000 node server.js

const http = require('node:http');
const chori = require('chori-torch');

const MODEL = process.env.MODEL || '/models/model.pt';
const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '0.0.0.0';
const MAX_BYTES = 10 * 1024 * 1024;
// The image's fault, not the server's: 400.
const CLIENT_ERRORS = new Set(['CHORI_EMPTY_INPUT', 'CHORI_DECODE', 'CHORI_TRUNCATED', 'CHORI_UNSUPPORTED_FORMAT', 'CHORI_IMAGE_TOO_LARGE']);

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BYTES) reject(Object.assign(new Error('image too large'), { status: 413 }));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function main() {
  const model = await chori.load(MODEL);
  const server = http.createServer(async (req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') return send(res, 200, { ok: true });
    if (req.method !== 'POST' || req.url !== '/classify') return send(res, 404, { error: 'POST /classify' });
    try {
      const { label, score } = await model.predict(await readBody(req));
      send(res, 200, { label, score });
    } catch (err) {
      send(res, err.status ?? (CLIENT_ERRORS.has(err.code) ? 400 : 500), { error: err.message, code: err.code });
    }
  });
  server.listen(PORT, HOST, () => console.log(`classifying with ${MODEL} on http://${HOST}:${PORT}`));
  process.once('SIGTERM', () => server.close(() => model.dispose().then(() => process.exit(0))));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
