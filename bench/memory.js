#!/usr/bin/env node
'use strict';
// Memory soak: resident memory must stay flat over many predictions. Loads the demo model,
// runs a warm-up, then --count predictions (4 callers, cycling over the benchmark corpus) and
// samples RSS after a full garbage collection every --every predictions. Exits 1, loudly,
// when RSS grew by --limit percent or more from the first sample after warm-up to the last.
// Bounded by --max-seconds: a machine too busy to finish in time gets the verdict on the
// predictions that ran, with a warning that the count was not reached.
//
//   node bench/memory.js [--count 20000] [--warmup 1000] [--every 1000] [--concurrency 4]
//                        [--limit 5] [--max-seconds 300] [--batch] [--model PATH]

const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');
const { spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const lib = require('./lib');

const { values: flags } = parseArgs({
  options: {
    count: { type: 'string', default: '20000' },
    warmup: { type: 'string', default: '1000' },
    every: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '4' },
    limit: { type: 'string', default: '5' },
    'max-seconds': { type: 'string', default: '300' },
    batch: { type: 'boolean', default: false },
    model: { type: 'string', default: path.join(lib.ROOT, 'export', 'model.pt') },
  },
});
const COUNT = Number(flags.count);
const WARMUP = Number(flags.warmup);
const EVERY = Number(flags.every);
const CONCURRENCY = Number(flags.concurrency);
const LIMIT = Number(flags.limit);
const MAX_SECONDS = Number(flags['max-seconds']);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const mib = (bytes) => bytes / 2 ** 20;

function fail(message) {
  console.error(`\nmemory: FAILED: ${message}`);
  process.exit(1);
}

/** RSS after a full collection and a moment for the native side to hand memory back. */
async function settledRss() {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc();
  return process.memoryUsage();
}

async function main() {
  if (!fs.existsSync(path.join(lib.WORK, 'corpus.json'))) {
    const prep = spawnSync(path.join(lib.ROOT, '.venv', 'bin', 'python'), [path.join(__dirname, 'prepare.py')], {
      stdio: 'inherit',
      cwd: lib.ROOT,
    });
    if (prep.status !== 0) fail('bench/prepare.py failed');
  }
  const corpus = lib.loadCorpus();
  const chori = require(lib.ROOT);
  const model = await chori.load(flags.model, { batch: flags.batch });
  console.log(
    `memory: ${path.relative(lib.ROOT, flags.model)}${flags.batch ? ' (batch: true)' : ''}, ${corpus.length} images, ` +
      `${CONCURRENCY} callers: ${WARMUP} warm-up + ${COUNT} predictions, RSS sampled every ${EVERY}, limit +${LIMIT}%`,
  );
  const started = performance.now();
  const deadline = started + MAX_SECONDS * 1000;
  let next = 0;
  let done = 0;
  const late = () => performance.now() > deadline;
  async function run(total) {
    const end = next + total;
    async function caller() {
      while (next < end && !late()) {
        const i = next++;
        await model.predict(corpus[i % corpus.length].bytes);
        done++;
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, caller));
  }

  await run(WARMUP);
  const baseline = await settledRss();
  const samples = [{ n: 0, rss: baseline.rss }];
  console.log(`memory: after warm-up  rss ${mib(baseline.rss).toFixed(1)} MiB  heap ${mib(baseline.heapUsed).toFixed(1)} MiB`);
  let peak = baseline.rss;
  for (let n = EVERY; n <= COUNT && !late(); n += EVERY) {
    await run(EVERY);
    const m = await settledRss();
    peak = Math.max(peak, m.rss);
    samples.push({ n: done - WARMUP, rss: m.rss });
    const growth = (100 * (m.rss - baseline.rss)) / baseline.rss;
    const rate = done / ((performance.now() - started) / 1000);
    console.log(
      `memory: ${String(done - WARMUP).padStart(6)}/${COUNT}  rss ${mib(m.rss).toFixed(1)} MiB (${growth >= 0 ? '+' : ''}${growth.toFixed(2)}%)` +
        `  heap ${mib(m.heapUsed).toFixed(1)} MiB  external ${mib(m.external).toFixed(1)} MiB  ${rate.toFixed(0)} predictions/s`,
    );
  }
  await model.dispose();

  const last = samples[samples.length - 1];
  const final = last.rss;
  const growth = (100 * (final - baseline.rss)) / baseline.rss;
  const peakGrowth = (100 * (peak - baseline.rss)) / baseline.rss;
  const seconds = (performance.now() - started) / 1000;
  // The slope over the second half tells a slow leak from a one-off rise after warm-up.
  const mid = samples[Math.floor((samples.length - 1) / 2)];
  const slope = last.n > mid.n ? (final - mid.rss) / 1024 / ((last.n - mid.n) / 1000) : NaN;
  console.log(
    `memory: ${last.n} predictions after warm-up in ${seconds.toFixed(1)} s; RSS ${mib(baseline.rss).toFixed(1)} → ` +
      `${mib(final).toFixed(1)} MiB (${growth >= 0 ? '+' : ''}${growth.toFixed(2)}%), peak ${mib(peak).toFixed(1)} MiB ` +
      `(+${peakGrowth.toFixed(2)}%); second half ${Number.isFinite(slope) ? slope.toFixed(1) : 'n/a'} KiB per 1000 predictions`,
  );
  if (growth >= LIMIT) {
    fail(
      `RSS grew ${growth.toFixed(2)}% over ${last.n} predictions (limit ${LIMIT}%): ` +
        `${mib(baseline.rss).toFixed(1)} → ${mib(final).toFixed(1)} MiB — a leak?`,
    );
  }
  if (last.n < COUNT) {
    console.log(
      `memory: WARNING: only ${last.n} of ${COUNT} predictions ran within --max-seconds ${MAX_SECONDS} ` +
        '(the machine is busy or slow); the verdict covers those only',
    );
  }
  console.log(`memory: ok, growth ${growth.toFixed(2)}% < ${LIMIT}%`);
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
