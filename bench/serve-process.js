'use strict';
// `chori-torch serve` in its own process for the load benchmarks (serve-load.js, oip-load.js):
// started on a free loopback port, ready once /readyz says so, and its RSS from /metrics.

const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { setTimeout: sleep } = require('node:timers/promises');

const root = path.resolve(__dirname, '..');

/** A port that was free a moment ago, on loopback. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Starts the server with `model` (served as "model") and `flags`; resolves { child, url } once ready. */
async function startServer(model, flags = []) {
  const port = await freePort();
  const args = [path.join(root, 'js', 'cli.js'), 'serve', '--model', `model=${model}`, '--port', String(port), '--management-port', '0',
    '--drain-delay-ms', '0', '--log-format', 'none', ...flags];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let waited = 0; waited < 30000; waited += 100) {
    if (child.exitCode !== null) throw new Error(`the server exited with status ${child.exitCode}`);
    const ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ready) return { child, url };
    await sleep(100);
  }
  child.kill();
  throw new Error('the server was not ready within 30 s');
}

async function rssBytes(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(text.match(/^process_resident_memory_bytes (\d+)/m)[1]);
}

module.exports = { root, freePort, startServer, rssBytes };
