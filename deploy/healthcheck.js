'use strict';
// The image's HEALTHCHECK: GET /readyz (or the path given) on this container's server, exit 0 on
// 200 and 1 otherwise. A file of its own because the image has no curl or wget, and it loads no
// part of chori-torch (no libtorch) so that running it every few seconds costs a few ms.
// It follows the server's environment: CHORI_TORCH_PORT (else 8080), and https when
// CHORI_TORCH_TLS_CERT is set (the certificate names the service, not 127.0.0.1: not verified).

const http = require('node:http');
const https = require('node:https');

const path = process.argv[2] || '/readyz';
const port = Number(process.env.CHORI_TORCH_PORT || 8080);
const tls = Boolean(process.env.CHORI_TORCH_TLS_CERT);
const client = tls ? https : http;
const req = client.get({ host: '127.0.0.1', port, path, timeout: 2000, rejectUnauthorized: false }, (res) => {
  res.resume();
  process.exitCode = res.statusCode === 200 ? 0 : 1;
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (err) => {
  console.error(`healthcheck: ${err.message}`);
  process.exitCode = 1;
});
