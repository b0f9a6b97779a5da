#!/usr/bin/env node
'use strict';
// Throughput of the Open Inference Protocol's binary REST infer and gRPC ModelInfer against
// POST /predict, in one run on one server: the same image, the same concurrency (autocannon's
// connections for HTTP, as many calls in flight on one channel for gRPC), over loopback, the
// requests alternated round by round so that drift on a shared machine hits them alike.
//
//   node bench/oip-load.js [--duration S] [--connections N] [--rounds R] [--model PATH] [--image PATH]
//
// Exit status 1 when any request failed (an error, a timeout or a non-2xx answer).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { performance } = require('node:perf_hooks');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const autocannon = require('autocannon');
const { PROTO } = require('../js/server/protocols/oip-grpc');
const { root, startServer, freePort } = require('./serve-process');

const MAX_RUN_S = 10;

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      connections: { type: 'string', default: '16' },
      rounds: { type: 'string', default: '2' },
      model: { type: 'string', default: path.join(root, 'export', 'model.pt') },
      image: { type: 'string', default: path.join(root, 'export', 'images', 'face_01.jpg') },
    },
  });
  const o = { ...values, duration: Number(values.duration), connections: Number(values.connections), rounds: Number(values.rounds) };
  if (!Number.isInteger(o.duration) || o.duration < 1 || o.duration > MAX_RUN_S) throw new Error(`--duration must be 1 to ${MAX_RUN_S} seconds`);
  if (!Number.isInteger(o.connections) || o.connections < 1 || o.connections > 1024) throw new Error('--connections must be 1 to 1024');
  if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 5) throw new Error('--rounds must be 1 to 5');
  return o;
}

/** The requests compared: { name, body, drive(connections, seconds) → autocannon-like result }. */
function requests(image, url, grpcAddress) {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(image.length);
  const header = Buffer.from(JSON.stringify({
    inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 4 + image.length } }],
    outputs: [{ name: 'logits', parameters: { binary_data: true } }, { name: 'label', parameters: { binary_data: true } }],
  }));
  const http = (name, path, headers, body) => ({
    name,
    body,
    drive: (connections, duration) => autocannon({ url: `${url}${path}`, method: 'POST', headers, body, connections, duration, timeout: MAX_RUN_S }),
  });
  const request = { model_name: 'model', inputs: [{ name: 'image', datatype: 'BYTES', shape: [1] }], raw_input_contents: [Buffer.concat([prefix, image])] };
  return [
    http('POST /predict', '/predict', { 'content-type': 'image/jpeg' }, image),
    http('POST /v2/models/model/infer (binary)', '/v2/models/model/infer',
      { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) }, Buffer.concat([header, prefix, image])),
    { name: 'gRPC ModelInfer (raw_input_contents)', body: request.raw_input_contents[0], drive: (calls, duration) => driveGrpc(grpcAddress, request, calls, duration) },
  ];
}

/** `calls` ModelInfer calls kept in flight on one channel for `duration` s: autocannon's result fields. */
async function driveGrpc(address, request, calls, duration) {
  const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: true });
  const { GRPCInferenceService } = grpc.loadPackageDefinition(definition).inference;
  const client = new GRPCInferenceService(address, grpc.credentials.createInsecure());
  const latencies = [];
  let errors = 0;
  const started = performance.now();
  const end = started + duration * 1000;
  const one = () => new Promise((resolve) => {
    const t = performance.now();
    client.ModelInfer(request, (err) => {
      if (err) errors += 1;
      else latencies.push(performance.now() - t);
      resolve();
    });
  });
  await Promise.all(Array.from({ length: calls }, async () => {
    while (performance.now() < end) await one();
  }));
  client.close();
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return {
    requests: { total: latencies.length, average: latencies.length / seconds },
    duration: seconds,
    latency: { p50: at(0.5), p99: at(0.99) },
    errors,
    timeouts: 0,
    non2xx: 0,
  };
}

function cpu() {
  const info = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const features = [...new Set(info.match(/\b(avx512[a-z_0-9]*|amx[a-z_0-9]*)\b/g) ?? [])].sort();
  return `${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${os.availableParallelism?.() ?? os.cpus().length} cores, ${features.join(' ') || 'no AVX-512/AMX'}`;
}

async function main() {
  const o = options();
  const grpcPort = await freePort();
  const { child, url } = await startServer(o.model, ['--grpc-port', String(grpcPort)]);
  const compared = requests(fs.readFileSync(o.image), url, `127.0.0.1:${grpcPort}`);
  const totals = compared.map(() => ({ requests: 0, seconds: 0, failed: 0, p50: [], p99: [] }));
  try {
    for (const r of compared) await r.drive(o.connections, 1); // warm-up: not counted
    for (let round = 0; round < o.rounds; round += 1) {
      for (const [i, r] of compared.entries()) {
        const result = await r.drive(o.connections, o.duration);
        Object.assign(totals[i], {
          requests: totals[i].requests + result.requests.total,
          seconds: totals[i].seconds + result.duration,
          failed: totals[i].failed + result.errors + result.timeouts + result.non2xx,
        });
        totals[i].p50.push(result.latency.p50);
        totals[i].p99.push(result.latency.p99);
        console.error(`${r.name}: ${Math.round(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
      }
    }
  } finally {
    child.kill('SIGTERM');
  }
  const rate = totals.map((t) => t.requests / t.seconds);
  const rows = compared.map((r, i) =>
    `| ${r.name} | ${r.body.length} | ${Math.round(rate[i])} | ${totals[i].p50.join(', ')} | ${totals[i].p99.join(', ')} | ${totals[i].failed} |`);
  process.stdout.write(`# Open Inference Protocol vs POST /predict

\`node bench/oip-load.js --connections ${o.connections} --duration ${o.duration} --rounds ${o.rounds}\`: one \`chori-torch serve\`
(\`${path.relative(root, o.model)}\`, defaults), \`${path.relative(root, o.image)}\`, ${o.connections} connections (gRPC: calls in flight), the
requests alternated, ${o.rounds} × ${o.duration} s each after a 1 s warm-up.
Machine: ${cpu()}; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}.

| request | body bytes | requests/s | p50 ms per round | p99 ms per round | failed |
| --- | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

V2 binary / POST /predict: ${(rate[1] / rate[0]).toFixed(2)}; gRPC / POST /predict: ${(rate[2] / rate[0]).toFixed(2)}
`);
  return totals.some((t) => t.failed > 0) ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`oip-load: ${err.message}`);
    process.exitCode = 1;
  },
);
