#!/usr/bin/env node
'use strict';
// Throughput of the Open Inference Protocol's binary REST infer against POST /predict, in one
// run on one server: the same image, the same connections, autocannon over loopback, the two
// endpoints alternated (ABAB) so that drift on a shared machine hits both alike.
//
//   node bench/oip-load.js [--duration S] [--connections N] [--rounds R] [--model PATH] [--image PATH]
//
// Exit status 1 when any request failed (an error, a timeout or a non-2xx answer).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const autocannon = require('autocannon');
const { root, startServer } = require('./serve-process');

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

/** The two requests compared: { name, path, headers, body } */
function requests(image) {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(image.length);
  const header = Buffer.from(JSON.stringify({
    inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 4 + image.length } }],
    outputs: [{ name: 'logits', parameters: { binary_data: true } }, { name: 'label', parameters: { binary_data: true } }],
  }));
  return [
    { name: 'POST /predict', path: '/predict', headers: { 'content-type': 'image/jpeg' }, body: image },
    {
      name: 'POST /v2/models/model/infer (binary)',
      path: '/v2/models/model/infer',
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      body: Buffer.concat([header, prefix, image]),
    },
  ];
}

const drive = (url, r, connections, duration) =>
  autocannon({ url: `${url}${r.path}`, method: 'POST', headers: r.headers, body: r.body, connections, duration, timeout: MAX_RUN_S });

function cpu() {
  const info = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const features = [...new Set(info.match(/\b(avx512[a-z_0-9]*|amx[a-z_0-9]*)\b/g) ?? [])].sort();
  return `${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${os.availableParallelism?.() ?? os.cpus().length} cores, ${features.join(' ') || 'no AVX-512/AMX'}`;
}

async function main() {
  const o = options();
  const compared = requests(fs.readFileSync(o.image));
  const { child, url } = await startServer(o.model);
  const totals = compared.map(() => ({ requests: 0, seconds: 0, failed: 0, p50: [], p99: [] }));
  try {
    for (const r of compared) await drive(url, r, o.connections, 1); // warm-up: not counted
    for (let round = 0; round < o.rounds; round += 1) {
      for (const [i, r] of compared.entries()) {
        const result = await drive(url, r, o.connections, o.duration);
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
(\`${path.relative(root, o.model)}\`, defaults), \`${path.relative(root, o.image)}\`, ${o.connections} connections, the two
requests alternated, ${o.rounds} × ${o.duration} s each after a 1 s warm-up.
Machine: ${cpu()}; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}.

| request | body bytes | requests/s | p50 ms per round | p99 ms per round | failed |
| --- | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

V2 binary / POST /predict: ${(rate[1] / rate[0]).toFixed(2)}
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
