'use strict';
// The HTTP transport put together: the keys (http/auth.js), one Router per listener with the
// protocols mounted through an access filter (inference listener: public and inference routes;
// management listener: management routes), TLS (http/tls.js) and the listeners themselves
// (http/listener.js).

const client = require('prom-client');
const { codes } = require('../../errors');
const { resolveKeys, createAuth, httpAuthorizer } = require('./auth');
const { Listeners, withAccess } = require('./listener');
const { Router } = require('./router');
const { readPair, watchPair, createGrpcIdentity, grpcCredentials } = require('./tls');

const LISTENERS = Object.freeze({ inference: ['public', 'inference'], management: ['management'] });

function usageError(message) {
  const err = new TypeError(message);
  err.code = codes.INVALID_ARGUMENT;
  return err;
}

/**
 * options: normalized (options.js); dataPlane, log: the server's; isClosing() → boolean;
 * protocols: the HTTP protocol modules in mount order. Returns { listeners (Listeners), auth
 * (createAuth's, for gRPC too), tls (the { cert, key } pair or null), grpcCredentials(grpc),
 * stop() (ends the TLS watch) }.
 * Throws CHORI_INVALID_ARGUMENT for an unusable key or certificate.
 */
function createHttpTransport({ options, dataPlane, log, isClosing, protocols }) {
  const keys = resolveKeys(options);
  if (options.protectMetrics && keys.inference === null) {
    throw usageError('--protect-metrics needs an inference key (--inference-key-file or $CHORI_TORCH_INFERENCE_KEY) for Prometheus to send');
  }
  for (const warning of keys.warnings) log.event('warn', 'key file permissions', { warning });
  if (keys.generatedFile) {
    log.event('warn', 'management key generated: the management listener is reachable beyond loopback and no key was given', {
      file: keys.generatedFile, management_host: options.managementHost,
    });
  }
  const auth = createAuth({ keys, register: dataPlane.metrics.register, Counter: client.Counter });
  const deps = { dataPlane, options, auth };
  const handler = (listener) => {
    const router = new Router({ metrics: dataPlane.metrics, log, isClosing, authorize: httpAuthorizer(auth, listener) });
    for (const protocol of protocols) router.mount(withAccess(protocol, LISTENERS[listener]), deps);
    return router.handle;
  };
  const tls = options.tlsCert === undefined ? null : readPair({ cert: options.tlsCert, key: options.tlsKey });
  const listeners = new Listeners(options, { inference: handler('inference'), management: handler('management') }, tls);
  const grpcIdentity = tls === null ? null : createGrpcIdentity(tls);
  const stop = tls === null ? () => {} : watchPair({ cert: options.tlsCert, key: options.tlsKey }, [...listeners.secureServers, grpcIdentity], {
    onReload: () => log.event('info', 'TLS certificate reloaded', { cert: options.tlsCert }),
    onError: (err) => log.event('warn', 'TLS certificate not reloaded; the previous one keeps serving', { error: err.message }),
  });
  return {
    listeners,
    auth,
    tls,
    stop,
    /** The gRPC listener's credentials: plaintext, or TLS with this pair, renewed with it. grpc: @grpc/grpc-js. */
    grpcCredentials: (grpc) => grpcCredentials(grpc, tls, grpcIdentity),
    /** Fields for the 'listening' log line: where each key came from (never a key). */
    describe: () => ({
      management_url: listeners.managementUrl,
      inference_key: keys.sources.inference ?? 'none',
      management_key: keys.sources.management ?? 'none',
    }),
  };
}

module.exports = { createHttpTransport, LISTENERS };
