'use strict';
// Helpers shared by the benchmark scripts: the image corpus, statistics, the closed-loop driver
// and the line protocol between bench/run.js and its worker processes.

const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const ROOT = path.resolve(__dirname, '..');
const WORK = path.join(__dirname, '.work');

/** The image corpus written by bench/prepare.py: [{ name, bytes }]. */
function loadCorpus() {
  const files = JSON.parse(fs.readFileSync(path.join(WORK, 'corpus.json'), 'utf8'));
  return files.map((file) => ({ name: path.basename(file), bytes: fs.readFileSync(file) }));
}

/** Artifact paths by model name, written by bench/prepare.py. */
function modelPaths() {
  return JSON.parse(fs.readFileSync(path.join(WORK, 'models.json'), 'utf8'));
}

/** The .pt2 packages bench/prepare.py compiled, by model name ({} when none). */
function pt2Paths() {
  const file = path.join(WORK, 'pt2.json');
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
}

function sorted(values) {
  return Float64Array.from(values).sort();
}

/** Nearest-rank percentile (p in [0, 100]) of an unsorted array; NaN when empty. */
function percentile(values, p) {
  if (values.length === 0) return NaN;
  const s = sorted(values);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

function median(values) {
  if (values.length === 0) return NaN;
  const s = sorted(values);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Peak resident set size of this process so far, in MiB (getrusage's ru_maxrss, i.e. VmHWM). */
function peakRssMiB() {
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * Runs `concurrency` callers in a closed loop (each awaits its call, then starts the next) over
 * the corpus for warmupMs + durationMs. Measured: calls completing inside the window
 * (throughput), the latency of calls started inside it, the event-loop delay (1 ms timer) and
 * the CPU time this process used in it. Callers stop starting calls when the window closes;
 * the calls still running are awaited.
 */
async function closedLoop({ concurrency, warmupMs, durationMs, corpusSize, call }) {
  const now = () => performance.now();
  const eld = monitorEventLoopDelay({ resolution: 1 });
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let cpuStart;
  let cpu;
  const opened = new Promise((resolve) =>
    setTimeout(() => {
      windowStart = now();
      cpuStart = process.cpuUsage();
      eld.enable();
      resolve();
    }, warmupMs),
  );
  const closed = opened.then(
    () =>
      new Promise((resolve) =>
        setTimeout(() => {
          windowEnd = now();
          eld.disable();
          cpu = process.cpuUsage(cpuStart);
          resolve();
        }, durationMs),
      ),
  );
  let next = 0;
  let completed = 0;
  let stopped = false;
  const latencies = [];
  async function caller() {
    while (!stopped && windowEnd === Infinity) {
      const index = next++ % corpusSize;
      const start = now();
      await call(index);
      const end = now();
      if (start >= windowStart && start <= windowEnd) latencies.push(end - start);
      if (end >= windowStart && end <= windowEnd) completed++;
    }
  }
  const callers = Array.from({ length: concurrency }, caller);
  await closed;
  stopped = true;
  await Promise.all(callers);
  const seconds = (windowEnd - windowStart) / 1000;
  return {
    completed,
    seconds,
    throughput: completed / seconds,
    latencies,
    cpuPercent: (100 * (cpu.user + cpu.system)) / 1e6 / seconds,
    eld: {
      p50: eld.percentile(50) / 1e6,
      p99: eld.percentile(99) / 1e6,
      max: eld.max / 1e6,
      count: eld.count,
    },
  };
}

/**
 * Serves a worker's commands: one JSON object per stdin line, one JSON answer per stdout line
 * ({ ok: true, ... } or { ok: false, error }). Logs belong on stderr.
 */
function serveCommands(handlers) {
  const rl = readline.createInterface({ input: process.stdin });
  const reply = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
  let queue = Promise.resolve();
  rl.on('line', (line) => {
    queue = queue.then(async () => {
      let cmd;
      try {
        cmd = JSON.parse(line);
        const handler = handlers[cmd.op];
        if (!handler) throw new Error(`unknown op ${JSON.stringify(cmd.op)}`);
        reply({ ok: true, ...(await handler(cmd)) });
      } catch (err) {
        reply({ ok: false, error: String(err && err.stack ? err.stack : err) });
      }
      if (cmd && cmd.op === 'exit') process.exit(0);
    });
  });
  rl.on('close', () => queue.then(() => process.exit(0)));
}

/** Softmax of logits (Float32Array) and the top-k entries, ties by index, like the addon. */
function rankLogits(logits, k) {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const exp = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += exp[i] = Math.exp(logits[i] - max);
  const top = [];
  for (let i = 0; i < exp.length; i++) {
    if (top.length === k && exp[i] <= exp[top[k - 1]]) continue;
    let j = top.length < k ? top.length : k - 1;
    while (j > 0 && exp[top[j - 1]] < exp[i]) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = i;
  }
  return top.map((index) => ({ index, score: exp[index] / sum }));
}

module.exports = {
  ROOT,
  WORK,
  loadCorpus,
  modelPaths,
  pt2Paths,
  percentile,
  median,
  peakRssMiB,
  closedLoop,
  serveCommands,
  rankLogits,
};
