'use strict';
// chori-torch's HTTP server: `serve(options)` from JavaScript, `chori-torch serve` from a shell.
// app.js (composition, lifecycle) · core/ (the protocol-neutral data plane: dataplane.js,
// registry.js, errors.js, metrics.js, log.js) · http/ (the HTTP transport: router.js, answer.js,
// body.js, query.js, listener.js) · protocols/ (one adapter per protocol, each with its route
// table and error map) · url-fetch.js + address-policy.js (?url= with its SSRF guard) ·
// options.js · png.js (the warm-up image)

const { ChoriServer } = require('./app');
const earlySignals = require('./early-signals');
const { normalize, fromArgv, helpText } = require('./options');

/** Starts a server and resolves once it listens with every model loaded. */
async function serve(options) {
  const server = new ChoriServer(normalize(options, 'api'));
  await server.listen();
  return handle(server);
}

// The public face of a running server (js/index.d.ts: Server).
function handle(server) {
  return Object.freeze({
    get url() {
      return server.url;
    },
    get managementUrl() {
      return server.managementUrl;
    },
    get grpcAddress() {
      return server.grpcAddress;
    },
    get ready() {
      return server.dataPlane.ready;
    },
    models: () => server.dataPlane.models(),
    failed: () => server.registry.failed(),
    reload: (name = server.registry.defaultName) => server.registry.reload(name),
    close: () => server.close(),
  });
}

/**
 * Stops `server` on the first SIGTERM or SIGINT, whatever it is doing (binding, loading models,
 * serving); a second one exits at once with 1. Returns { exitCode: Promise<0 | 1>, remove() }:
 * 0 after a clean drain, 1 when in-flight requests had to be cut off.
 */
function stopOnSignals(server) {
  let onSignal;
  const remove = () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
  const exitCode = new Promise((resolve) => {
    let stopping = false;
    onSignal = (signal) => {
      if (stopping) process.exit(1); // a second signal while draining stops at once
      stopping = true;
      server.close(signal).then(({ forced }) => {
        remove();
        resolve(forced ? 1 : 0);
      });
    };
  });
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  earlySignals.release();
  return { exitCode, remove };
}

/**
 * `chori-torch serve`: runs until SIGTERM or SIGINT, then drains. Resolves the exit status
 * (see stopOnSignals); rejects when the models cannot be loaded.
 */
async function serveCommand(argv) {
  const parsed = fromArgv(argv);
  if (parsed.help) {
    console.log(helpText());
    return 0;
  }
  const server = new ChoriServer(parsed.options);
  // Before anything loads: a pod stopped while it starts must stop cleanly, not die of the
  // signal's default action.
  const stop = stopOnSignals(server);
  try {
    await server.listen();
  } catch (err) {
    stop.remove();
    throw err;
  }
  return stop.exitCode;
}

module.exports = { serve, serveCommand };
