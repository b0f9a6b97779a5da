'use strict';
// Self-signed certificates made at test time with Debian's openssl (scripts/setup-system.sh):
// a P-256 key and a one-day certificate for localhost and 127.0.0.1.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');

/** Writes NAME.key.pem and NAME.cert.pem under `dir` (a new temp dir by default). → { dir, cert, key, fingerprint } */
function makeCertificate(name = 'server', dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chori-tls-'))) {
  const cert = path.join(dir, `${name}.cert.pem`);
  const key = path.join(dir, `${name}.key.pem`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'pipe' });
  return { dir, cert, key, fingerprint: new crypto.X509Certificate(fs.readFileSync(cert)).fingerprint256 };
}

module.exports = { makeCertificate };
