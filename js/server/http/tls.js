'use strict';
// TLS for the listeners: --tls-cert / --tls-key (PEM files) turn http into https, and the same
// pair gives gRPC its credentials. The files are watched: a renewed certificate (cert-manager
// rewriting a Secret, certbot renewing) is taken up by new connections without a restart, once
// the pair on disk is consistent again; until then the previous one keeps serving.

const fs = require('node:fs');
const tls = require('node:tls');
const { codes } = require('../../errors');

const WATCH_INTERVAL_MS = 1000;

function usageError(message) {
  const err = new TypeError(message);
  err.code = codes.INVALID_ARGUMENT;
  return err;
}

/**
 * Reads the pair and checks that the key matches the certificate. files: { cert, key } (paths).
 * Returns { cert, key } (Buffers); throws CHORI_INVALID_ARGUMENT naming the file at fault.
 */
function readPair(files) {
  const read = (file, flag) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw usageError(`cannot read ${flag} ${file}: ${err.code ?? err.message}`);
    }
  };
  const pair = { cert: read(files.cert, '--tls-cert'), key: read(files.key, '--tls-key') };
  try {
    tls.createSecureContext(pair);
  } catch (err) {
    throw usageError(`--tls-cert ${files.cert} and --tls-key ${files.key} are not a usable pair: ${err.message}`);
  }
  return pair;
}

/**
 * Keeps `servers` (https.Server, tls.Server or createGrpcIdentity()'s) on the current pair: polls both files (stat follows
 * the symlinks Kubernetes swaps), and on a change loads them again. onReload() after a swap;
 * onError(err) when the new pair does not load (the old one keeps serving). Returns stop().
 */
function watchPair(files, servers, { onReload = () => {}, onError = () => {}, intervalMs = WATCH_INTERVAL_MS } = {}) {
  const changed = (now, before) => now.mtimeMs !== before.mtimeMs || now.ino !== before.ino || now.size !== before.size;
  const listener = (now, before) => {
    if (!changed(now, before)) return;
    let pair;
    try {
      pair = readPair(files);
    } catch (err) {
      onError(err);
      return;
    }
    for (const server of servers) server.setSecureContext(pair);
    onReload();
  };
  const watched = [files.cert, files.key];
  for (const file of watched) fs.watchFile(file, { interval: intervalMs, persistent: false }, listener);
  return () => {
    for (const file of watched) fs.unwatchFile(file, listener);
  };
}

/**
 * gRPC's holder of the pair, a grpc-js CertificateProvider with setSecureContext(pair) as an https
 * server has: watchPair() renews gRPC's certificate with the HTTP listeners'.
 */
function createGrpcIdentity(pair) {
  let current = pair;
  const listeners = new Set();
  const update = () => ({ certificate: current.cert, privateKey: current.key });
  return {
    setSecureContext(next) {
      current = next;
      for (const listener of listeners) listener(update());
    },
    // On the next tick, as grpc-js's own providers do: it starts watching only after adding its listener.
    addIdentityCertificateListener(listener) {
      listeners.add(listener);
      process.nextTick(listener, update());
    },
    removeIdentityCertificateListener(listener) {
      listeners.delete(listener);
    },
    // No client certificates are asked for: no CA.
    addCaCertificateListener() {},
    removeCaCertificateListener() {},
  };
}

/**
 * gRPC server credentials from the same pair: grpc is @grpc/grpc-js, pair is readPair()'s (or null
 * for plaintext), identity createGrpcIdentity()'s. Fed by the identity, they follow renewals; a
 * grpc-js without certificate providers keeps the pair it started with. Client certificates are
 * not asked for.
 */
function grpcCredentials(grpc, pair, identity = null) {
  if (pair === null) return grpc.ServerCredentials.createInsecure();
  const fromProvider = grpc.experimental?.createCertificateProviderServerCredentials;
  // Its first argument is the identity provider (grpc-js 1.14 names the parameters the other way round).
  if (identity !== null && fromProvider) return fromProvider(identity, null, false);
  return grpc.ServerCredentials.createSsl(null, [{ cert_chain: pair.cert, private_key: pair.key }], false);
}

module.exports = { readPair, watchPair, createGrpcIdentity, grpcCredentials, WATCH_INTERVAL_MS };
