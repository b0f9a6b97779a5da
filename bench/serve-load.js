#!/usr/bin/env node
'use strict';
// Load benchmark for `chori-torch serve`: starts the server in its own process on a loopback
// port, drives POST /predict with autocannon at 1, 8 and 32 connections (each run bounded in
// time), and reports requests/s, p50/p99 latency, errors and the server's RSS before and after.
// --threads 1,2 measures one server per libtorch intra-op thread count.
//
//   node bench/serve-load.js [--duration S] [--connections 1,8,32] [--threads N] [--model PATH]
//                            [--image PATH] [--write docs/benchmarks-serve.md]
//
// Exit status 1 when any request failed (an error, a timeout or a non-2xx answer).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const autocannon = require('autocannon');
const { root, startServer, rssBytes } = require('./serve-process');
const MAX_RUN_S = 10;

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      connections: { type: 'string', default: '1,8,32' },
      model: { type: 'string', default: path.join(root, 'export', 'model.pt') },
      image: { type: 'string', default: path.join(root, 'export', 'images', 'face_01.jpg') },
      threads: { type: 'string', default: '1' },
      write: { type: 'string' },
    },
  });
  const duration = Number(values.duration);
  if (!Number.isInteger(duration) || duration < 1 || duration > MAX_RUN_S) {
    throw new Error(`--duration must be an integer number of seconds from 1 to ${MAX_RUN_S}, not ${values.duration}`);
  }
  const connections = values.connections.split(',').map(Number);
  if (!connections.every((c) => Number.isInteger(c) && c > 0 && c <= 1024)) {
    throw new Error(`--connections must be a comma-separated list of integers from 1 to 1024, not ${values.connections}`);
  }
  if (!/^\d+(,\d+)*$/.test(values.threads)) throw new Error(`--threads must be a comma-separated list of integers, not ${values.threads}`);
  return { ...values, duration, connections };
}

function load(url, body, connections, duration) {
  return autocannon({
    url: `${url}/predict`,
    method: 'POST',
    headers: { 'content-type': 'image/jpeg' },
    body,
    connections,
    duration,
    timeout: MAX_RUN_S,
  });
}

const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** One server process with `threads` intra-op threads, driven at each connection count. */
async function measure(o, body, threads) {
  const { child, url } = await startServer(o.model, ['--threads', threads]);
  try {
    const rss = { before: await rssBytes(url) };
    await load(url, body, 8, 1); // warm-up: not reported
    const runs = [];
    for (const connections of o.connections) {
      const r = await load(url, body, connections, o.duration);
      runs.push({ connections, r });
      console.error(`--threads ${threads}, ${connections} connections: ${Math.round(r.requests.average)} req/s, p50 ${r.latency.p50} ms, ` +
        `p99 ${r.latency.p99} ms, ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx`);
    }
    rss.after = await rssBytes(url);
    return { threads, runs, rss };
  } finally {
    child.kill('SIGTERM');
  }
}

function report(o, results) {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const sections = results.map(({ threads, runs, rss }) => {
    const rows = runs.map(({ connections, r }) =>
      `| ${connections} | ${Math.round(r.requests.average)} | ${r.latency.p50} | ${r.latency.p99} | ${r.requests.total} | ${r.errors + r.timeouts + r.non2xx} |`);
    return `## \`--threads ${threads}\`${threads === '1' ? ' (the default)' : ''}

| connections | requests/s | p50 ms | p99 ms | requests | errors + timeouts + non-2xx |
| ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

Server RSS: ${mib(rss.before)} once ready, ${mib(rss.after)} after ${runs.reduce((n, { r }) => n + r.requests.total, 0)} requests.
`;
  });
  return `# Load benchmark

\`node bench/serve-load.js --duration ${o.duration} --threads ${o.threads}\`: \`chori-torch serve\` with the demo model
(\`${path.relative(root, o.model)}\`) in its own process, \`POST /predict\` with \`${path.relative(root, o.image)}\`
(${fs.statSync(o.image).size} bytes) as the body, autocannon over loopback, ${o.duration} s per run after a 1 s warm-up.
Server: UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (the default)'}, \`--max-queue 64\`, \`--log-format none\`.

Machine: ${cpu}, ${os.availableParallelism?.() ?? os.cpus().length} cores shared by the server and the load generator,
Node ${process.version}, ${os.platform()} ${os.release()}; ${new Date().toISOString().slice(0, 10)}.
On a small shared machine the numbers vary from run to run, \`--threads\` above 1 most of all;
compare settings within one run, and run it more than once.

${sections.join('\n')}`;
}

async function main() {
  const o = options();
  const body = fs.readFileSync(o.image);
  const results = [];
  for (const threads of o.threads.split(',')) results.push(await measure(o, body, threads));
  const text = report(o, results);
  process.stdout.write(text);
  if (o.write) fs.writeFileSync(path.resolve(root, o.write), text);
  const failed = results.some(({ runs }) => runs.some(({ r }) => r.errors + r.timeouts + r.non2xx > 0));
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`serve-load: ${err.message}`);
    process.exitCode = 1;
  },
);
