'use strict';
// The self-check: before a replica takes traffic, each model predicts the golden set recorded
// beside its artifact (`chori export --golden DIR` writes model.golden.json next to model.pt)
// and its logits are compared with Python's, bit for bit. A node whose CPU or libraries give
// other bits (AVX2 against AVX-512, another libtorch) is caught here rather than by its users.
// `--verify` decides what a mismatch means for readiness: exact (any bit differs: not ready),
// top1 (only a changed top-1 class: not ready) or off (the check does not run).

const fs = require('node:fs');
const path = require('node:path');
const client = require('prom-client');
const { ServerError, serverCodes } = require('./errors');

const POLICIES = Object.freeze(['exact', 'top1', 'off']);

/** model.pt → model.golden.json, as python/chori_torch/golden.py's golden_path_for. */
function goldenPathFor(modelPath) {
  const ext = path.extname(modelPath);
  return `${ext ? modelPath.slice(0, -ext.length) : modelPath}.golden.json`;
}

class GoldenError extends Error {}

/** The golden document at `file`, or null when there is none; GoldenError when unusable. */
function readGolden(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw new GoldenError(`cannot read ${file}: ${err.message}`);
  }
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new GoldenError(`${file} is not JSON: ${err.message}`);
  }
  if (!Array.isArray(doc?.images) || doc.images.length === 0) throw new GoldenError(`${file} lists no images`);
  return doc;
}

/** The image bytes of a golden record: embedded (base64 `data`) or the file beside the JSON. */
function imageBytes(record, dir) {
  if (typeof record.data === 'string') return Buffer.from(record.data, 'base64');
  try {
    return fs.readFileSync(path.resolve(dir, record.file));
  } catch (err) {
    throw new GoldenError(`golden image ${record.file}: ${err.message}`);
  }
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i += 1) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * Predicts every golden image with `model` and compares. Resolves the report served in GET
 * /models: { status, golden, images, max_abs_diff, top1_agrees, differing, reason, ms } where
 * status is 'exact' (every logit bit-identical), 'top1' (some differ, every top-1 class agrees),
 * 'differs' (a top-1 class changed), 'failed' (the set could not be checked: unreadable, made
 * for another artifact, an image the model rejects) or 'absent' (no golden file). Never rejects.
 * sha256: the served artifact's, compared with the one the set was recorded from.
 */
async function selfCheck(model, { modelPath, sha256 }) {
  const started = Date.now();
  const golden = goldenPathFor(modelPath);
  const report = (fields) => ({
    status: 'failed', golden, images: 0, max_abs_diff: null, top1_agrees: null, differing: [], reason: null,
    ...fields, ms: Date.now() - started,
  });
  let doc;
  try {
    doc = readGolden(golden);
  } catch (err) {
    return report({ reason: err.message });
  }
  if (doc === null) return report({ status: 'absent', golden: null });
  if (sha256 && doc.model?.sha256 && doc.model.sha256 !== sha256) {
    return report({ reason: `the golden set was recorded for another artifact (sha256 ${doc.model.sha256.slice(0, 12)}, this one ${sha256.slice(0, 12)}); run chori export --golden again` });
  }
  let maxDiff = 0;
  let top1Agrees = true;
  const differing = [];
  try {
    for (const record of doc.images) {
      const expected = record.logits;
      const got = (await model.predict(imageBytes(record, path.dirname(golden)), { topk: 1, logits: true })).logits;
      if (!Array.isArray(expected) || expected.length !== got.length) {
        throw new GoldenError(`golden image ${record.file}: ${Array.isArray(expected) ? expected.length : 'no'} logits recorded, the model gives ${got.length}`);
      }
      let diff = 0;
      // JSON holds each float32 widened to double; Math.fround gives back the exact float32.
      for (let i = 0; i < got.length; i += 1) diff = Math.max(diff, Math.abs(Math.fround(expected[i]) - got[i]));
      if (diff > 0 || got.some((v, i) => !Object.is(v, Math.fround(expected[i])))) differing.push(record.file);
      maxDiff = Math.max(maxDiff, diff);
      if (argmax(got) !== argmax(expected)) top1Agrees = false;
    }
  } catch (err) {
    return report({ reason: err instanceof GoldenError ? err.message : `the golden set could not be predicted: ${err.code ?? ''} ${err.message}`.trim() });
  }
  let status = 'exact';
  let reason = null;
  if (!top1Agrees) status = 'differs';
  else if (differing.length > 0) status = 'top1';
  if (status !== 'exact') {
    reason = `${differing.length} of ${doc.images.length} golden images differ from Python's logits (max |Δlogit| ${maxDiff})${top1Agrees ? ', every top-1 class agrees' : ', and a top-1 class changed'}`;
    const recorded = doc.optimize?.form;
    const served = model.info?.optimize;
    if (recorded && served && recorded !== served) reason += `; the set was recorded with optimize ${recorded}, this server loads with ${served}`;
    const recordedOn = doc.device ?? 'cpu'; // golden sets from before `chori golden --device` ran on the CPU
    const servedOn = model.info?.device ?? 'cpu';
    if (recordedOn !== servedOn) {
      reason += `; the set was recorded on ${recordedOn} and this server runs ${servedOn}: a GPU gives the CPU's top-1, not its bits (--verify top1, or record the set on the GPU with chori golden --device cuda --deterministic and serve with --deterministic)`;
    }
  }
  return report({ status, images: doc.images.length, max_abs_diff: maxDiff, top1_agrees: top1Agrees, differing, reason });
}

/** Whether a model with this report may take traffic under `policy` (one of POLICIES). */
function passes(report, policy) {
  if (policy === 'off' || report.status === 'absent' || report.status === 'exact') return true;
  return policy === 'top1' && report.status === 'top1';
}

/** The golden images a refusal names: the first few, then how many more. */
function listImages(files, shown = 3) {
  const more = files.length > shown ? ` and ${files.length - shown} more` : '';
  return files.slice(0, shown).join(', ') + more;
}

/**
 * The self-checks of a server's models: each version a registry loads is checked once (under
 * --verify off, never), its report kept for GET /models, the log and the metrics
 * chori_golden_max_abs_diff{model} and chori_golden_passed{model} (both of the version
 * serving), and blocker() says why a model may not take traffic yet (checking, or failed under
 * the policy). vet() checks a reload's new version before its swap, so that one that fails
 * never replaces one that passed (chori_golden_reloads_refused_total{model} counts them).
 */
class SelfChecks {
  #policy;
  #paths;
  #log;
  #states = new Map(); // name → { version, report (null while checking), done }
  #pending = new Set();
  #vetted = new WeakMap(); // a reload's entry → the report vet() made before its swap
  #maxDiff;
  #passed;
  #refused;

  /** models: [{ name, path }]; registry: core/registry.js's; register: the prom-client registry. */
  constructor({ policy, models, registry, register, log }) {
    this.#policy = policy;
    this.#paths = new Map(models.map((m) => [m.name, m.path]));
    this.#log = log;
    if (policy === 'off') return;
    this.#maxDiff = new client.Gauge({
      name: 'chori_golden_max_abs_diff',
      help: 'Largest |logit difference| between this server and the reference pipeline on the golden set of each model (0: bit-identical)',
      labelNames: ['model'],
      registers: [register],
    });
    this.#passed = new client.Gauge({
      name: 'chori_golden_passed',
      help: 'Whether the current version of each model passed its golden-set self-check under --verify (1) or not (0)',
      labelNames: ['model'],
      registers: [register],
    });
    this.#refused = new client.Counter({
      name: 'chori_golden_reloads_refused_total',
      help: 'Reloads refused because the new version failed the golden-set self-check that the serving version passed (the serving version kept serving)',
      labelNames: ['model'],
      registers: [register],
    });
    registry.on('loaded', (entry) => this.#check(entry));
  }

  /**
   * Called by the registry before a reload swaps `entry` in for `previous` (the version
   * serving). When `previous` passed its check under the policy, `entry` is checked now and a
   * failure rejects with CHORI_SELF_CHECK_FAILED (the registry disposes `entry`; `previous`, its
   * report, the metrics and readiness stay as they were). A previous version that failed its own
   * check, and --verify off, let the swap through: `entry` is checked after it, as at start.
   */
  async vet(entry, previous) {
    const state = this.#states.get(entry.name);
    if (this.#policy === 'off' || state?.version !== previous.version) return;
    await state.done;
    if (!passes(state.report, this.#policy)) return;
    const report = await this.#selfCheck(entry);
    if (passes(report, this.#policy)) {
      this.#vetted.set(entry, report);
      return;
    }
    this.#refused.inc({ model: entry.name });
    const sha = entry.sha256?.slice(0, 12) ?? 'unknown';
    this.#log.event('error', 'golden set check failed: reload refused', {
      model: entry.name, serving: previous.version, sha256: sha, policy: this.#policy, status: report.status,
      max_abs_diff: report.max_abs_diff, differing: report.differing, reason: report.reason,
    });
    const images = report.differing.length > 0 ? `; differing: ${listImages(report.differing)}` : '';
    throw new ServerError(serverCodes.SELF_CHECK_FAILED,
      `model "${entry.name}": the new file (sha256 ${sha}) failed its self-check (--verify ${this.#policy}): ${report.reason}${images}; version ${previous.version} keeps serving`);
  }

  /** Resolves once every check started so far is done. */
  async settled() {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /** Why model `name` may not take traffic now, or null when it may. */
  blocker(name) {
    const state = this.#states.get(name);
    if (this.#policy === 'off' || !state) return null;
    if (!state.report) return `model "${name}" is checking its golden set`;
    if (passes(state.report, this.#policy)) return null;
    return `model "${name}" failed its self-check (--verify ${this.#policy}): ${state.report.reason}`;
  }

  /** GET /models' self_check of model `name`. */
  describe(name) {
    const state = this.#states.get(name);
    if (this.#policy === 'off') return { status: 'off', policy: 'off', passed: true };
    if (!state?.report) return { status: 'checking', policy: this.#policy, passed: false };
    const { status, golden, images, max_abs_diff, top1_agrees, differing, reason, ms } = state.report;
    return { status, policy: this.#policy, passed: passes(state.report, this.#policy), golden, images, max_abs_diff, top1_agrees, differing, reason, ms };
  }

  #selfCheck(entry) {
    return selfCheck(entry.model, { modelPath: this.#paths.get(entry.name), sha256: entry.sha256 });
  }

  #check(entry) {
    const state = { version: entry.version, report: null, done: null };
    this.#states.set(entry.name, state);
    const vetted = this.#vetted.get(entry);
    const checked = vetted ? Promise.resolve(vetted) : this.#selfCheck(entry);
    const done = checked.then((report) => {
      if (this.#states.get(entry.name) !== state) return; // a newer version replaced this one meanwhile
      state.report = report;
      const ok = passes(report, this.#policy);
      // Of the version serving: a set with no logits compared (absent, failed) leaves no value.
      if (report.max_abs_diff !== null) this.#maxDiff.set({ model: entry.name }, report.max_abs_diff);
      else this.#maxDiff.remove({ model: entry.name });
      this.#passed.set({ model: entry.name }, ok ? 1 : 0);
      const fields = { model: entry.name, version: entry.version, status: report.status, images: report.images, max_abs_diff: report.max_abs_diff, top1_agrees: report.top1_agrees, ms: report.ms };
      if (report.status === 'absent') this.#log.event('info', 'no golden set to check', { model: entry.name, expected: goldenPathFor(this.#paths.get(entry.name)) });
      else if (!ok) this.#log.event('error', 'golden set check failed: not ready', { ...fields, policy: this.#policy, reason: report.reason });
      else this.#log.event(report.status === 'exact' ? 'info' : 'warn', 'golden set checked', { ...fields, ...(report.reason && { reason: report.reason }) });
    });
    state.done = done;
    this.#pending.add(done);
    done.finally(() => this.#pending.delete(done));
  }
}

module.exports = { POLICIES, goldenPathFor, selfCheck, passes, SelfChecks };
