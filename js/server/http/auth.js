'use strict';
// Bearer tokens (RFC 6750): one key for inference, one for management, each route declaring
// which it needs (`access`: public, inference or management). Keys come from a file or the
// environment (Kubernetes Secrets arrive both ways); a management listener reachable beyond
// loopback never runs without one: the server generates it and writes it to a file only its user
// can read. Keys are compared in constant time on their SHA-256 digests, so neither content nor
// length leaks through timing, and they never reach a log line or an error message.

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { codes } = require('../../errors');
const { ServerError, serverCodes } = require('../core/errors');

const ENV = Object.freeze({ inference: 'CHORI_TORCH_INFERENCE_KEY', management: 'CHORI_TORCH_MANAGEMENT_KEY' });
// RFC 6750's b64token: what may follow "Bearer " in a header without quoting.
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MIN_KEY_LENGTH = 16;
const GENERATED_KEY_BYTES = 32;
const REALM = 'chori-torch';

function usageError(message) {
  const err = new TypeError(message);
  err.code = codes.INVALID_ARGUMENT;
  return err;
}

/** True for addresses only this machine can reach: localhost, 127.0.0.0/8, ::1 (also IPv4-mapped). */
function isLoopbackHost(host) {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^(?:::ffff:)?127(?:\.\d{1,3}){3}$/.test(h);
}

/** Checks a key's form; `source` names where it came from (never the key itself). */
function checkKey(key, source) {
  if (!TOKEN.test(key)) {
    throw usageError(`the key in ${source} must be one token of letters, digits and -._~+/ (RFC 6750's b64token), with no spaces or line breaks inside`);
  }
  if (key.length < MIN_KEY_LENGTH) throw usageError(`the key in ${source} is ${key.length} characters long; use at least ${MIN_KEY_LENGTH} (openssl rand -hex 32)`);
  return key;
}

function readKeyFile(file, flag, warnings) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
    const { mode } = fs.statSync(file);
    // Kubernetes mounts Secrets 0644 by default (defaultMode): worth a warning, not a refusal.
    if (mode & 0o077) warnings.push(`${flag} ${file} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
  } catch (err) {
    throw usageError(`cannot read ${flag} ${file}: ${err.code ?? err.message}`);
  }
  // A trailing line break is what `echo key > file` and Kubernetes Secrets leave.
  return checkKey(text.trim(), `${flag} ${file}`);
}

/**
 * Where a key comes from: the file named by its flag, else its environment variable, else none.
 * which: 'inference' | 'management'; file: the flag's value; flag: its name for messages.
 */
function configuredKey(which, file, flag, env, warnings) {
  if (file !== undefined) return { key: readKeyFile(file, flag, warnings), source: `${flag} ${file}` };
  const value = env[ENV[which]];
  if (value !== undefined && value !== '') return { key: checkKey(value.trim(), `$${ENV[which]}`), source: `$${ENV[which]}` };
  return { key: null, source: null };
}

/**
 * Writes `keys` as JSON to `file` (or to keys.json in a new private directory under the system's
 * temporary directory), readable and writable by this user only (0600). Replaces an existing file
 * atomically. Returns the file's path.
 */
function writeKeyFile(keys, file) {
  const target = file ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chori-torch-keys-')), 'keys.json');
  const staged = `${target}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  // 'wx': never through a file (or link) someone else placed there; the mode applies at creation.
  const fd = fs.openSync(staged, 'wx', 0o600);
  try {
    fs.fchmodSync(fd, 0o600); // whatever the umask
    fs.writeSync(fd, `${JSON.stringify(keys, null, 2)}\n`);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(staged, target);
  return target;
}

/**
 * The keys a server runs with. options: { inferenceKeyFile?, managementKeyFile?,
 * generatedKeysFile?, managementHost }; env: process.env. Returns { inference, management }
 * (a key or null), `generatedFile` (the path written when the management key was generated, else
 * null), `sources` ({ inference, management }: where each came from, for the log) and `warnings`
 * (key files others can read).
 */
function resolveKeys(options, env = process.env) {
  const warnings = [];
  const inference = configuredKey('inference', options.inferenceKeyFile, '--inference-key-file', env, warnings);
  const management = configuredKey('management', options.managementKeyFile, '--management-key-file', env, warnings);
  if (inference.key !== null && inference.key === management.key) {
    throw usageError(`the inference key (${inference.source}) and the management key (${management.source}) are the same; management needs a key of its own`);
  }
  let generatedFile = null;
  if (management.key === null && !isLoopbackHost(options.managementHost)) {
    management.key = crypto.randomBytes(GENERATED_KEY_BYTES).toString('base64url');
    management.source = 'generated';
    generatedFile = writeKeyFile({ management: management.key }, options.generatedKeysFile);
  }
  return {
    inference: inference.key,
    management: management.key,
    generatedFile,
    sources: { inference: inference.source, management: management.source },
    warnings,
  };
}

const digest = (text) => crypto.createHash('sha256').update(text, 'utf8').digest();

/**
 * The token of an `Authorization: Bearer <token>` value: { token } or { reason: 'missing' |
 * 'malformed' } (a header in another scheme, or with nothing after "Bearer").
 */
function bearerToken(authorization) {
  if (authorization === undefined || authorization === null || authorization === '') return { reason: 'missing' };
  const m = /^Bearer +(\S+) *$/i.exec(String(authorization));
  return m ? { token: m[1] } : { reason: 'malformed' };
}

/**
 * The gate every protocol asks before a route runs. keys: resolveKeys()'s; register: a
 * prom-client Registry for chori_auth_failures_total{listener, reason}; Counter: prom-client's.
 */
function createAuth({ keys, register, Counter }) {
  const digests = {
    inference: keys.inference === null ? null : digest(keys.inference),
    management: keys.management === null ? null : digest(keys.management),
  };
  const failures = new Counter({
    name: 'chori_auth_failures_total',
    help: 'Requests refused for their bearer token, by listener and reason (missing, malformed: 401 / UNAUTHENTICATED; invalid: 403 / PERMISSION_DENIED)',
    labelNames: ['listener', 'reason'],
    registers: [register],
  });

  /** Whether a route of this access level needs a key on this server. */
  function required(access) {
    if (access === 'public') return false;
    if (!(access in digests)) throw new Error(`unknown access level ${access}`);
    return digests[access] !== null;
  }

  /**
   * null when the request may proceed, else { reason: 'missing' | 'malformed' | 'invalid',
   * message } (counted). authorization: the Authorization header's (or gRPC metadata's) value;
   * listener: a metrics label (inference, management, grpc).
   */
  function check(access, authorization, listener) {
    if (!required(access)) return null;
    const { token, reason } = bearerToken(authorization);
    // Hashing both sides first: timingSafeEqual needs equal lengths, and the digests have them.
    const outcome = reason ?? (crypto.timingSafeEqual(digest(token), digests[access]) ? null : 'invalid');
    if (outcome === null) return null;
    failures.inc({ listener, reason: outcome });
    return { reason: outcome, message: MESSAGES[outcome](access) };
  }

  return { required, check };
}

const MESSAGES = {
  missing: (access) => `this route needs the ${access} key: send "Authorization: Bearer <key>"`,
  malformed: (access) => `the Authorization header must be "Bearer <key>" with the ${access} key`,
  invalid: (access) => `the bearer token is not the ${access} key`,
};

/** The WWW-Authenticate value of a 401 (RFC 6750 §3). */
function challenge(reason) {
  return reason === 'malformed' ? `Bearer realm="${REALM}", error="invalid_request"` : `Bearer realm="${REALM}"`;
}

/** The error a refusal (check()'s) is answered with: CHORI_UNAUTHENTICATED (401) or CHORI_FORBIDDEN (403). */
function refusalError(refused) {
  if (refused.reason === 'invalid') return new ServerError(serverCodes.FORBIDDEN, refused.message);
  return new ServerError(serverCodes.UNAUTHENTICATED, refused.message, { wwwAuthenticate: challenge(refused.reason) });
}

/** The Router's authorize(ctx, route) for the HTTP listener named `listener` (a metrics label). */
function httpAuthorizer(auth, listener) {
  return (ctx, route) => {
    const refused = auth.check(route.access, ctx.req.headers.authorization, listener);
    if (refused) throw refusalError(refused);
  };
}

/**
 * For gRPC handlers: throws refusalError() unless `metadata` (grpc.Metadata) carries the key that
 * `access` needs; oip-grpc maps CHORI_UNAUTHENTICATED to UNAUTHENTICATED, CHORI_FORBIDDEN to
 * PERMISSION_DENIED.
 */
function authorizeGrpc(auth, access, metadata) {
  const refused = auth.check(access, grpcAuthorization(metadata), 'grpc');
  if (refused) throw refusalError(refused);
}

/** The value of gRPC's `authorization` metadata key (lower-case, as gRPC sends every key). */
function grpcAuthorization(metadata) {
  const values = metadata?.get?.('authorization') ?? [];
  return values.length === 1 ? String(values[0]) : values.length === 0 ? undefined : 'multiple';
}

module.exports = {
  ENV, MIN_KEY_LENGTH, isLoopbackHost, resolveKeys, writeKeyFile, bearerToken, createAuth, challenge, grpcAuthorization, refusalError, httpAuthorizer, authorizeGrpc,
};
