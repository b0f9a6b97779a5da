'use strict';
// The served models, by name. Each name has a current version; reload() loads the file again
// and swaps the new version in atomically: requests that already hold the old one finish on it,
// and it is disposed when the last of them lets go. Each name also has a bounded number of
// images in flight: past it, acquire() fails with CHORI_OVERLOADED.
// A new version is warmed up before it serves. A model whose file fails to load at start
// (tolerated with allowPartial) is known but not served until a reload succeeds.
// A reload may be refused before its swap by the `vet` hook (the golden-set self-check): the new
// version is then disposed and the old one keeps serving, as when the file fails to load.
// Events: 'loaded' (entry, previous | undefined), 'load-failed' (name, error) at start,
// 'reload-failed' (name, error) under --watch.

const crypto = require('node:crypto');
const fs = require('node:fs');
const { EventEmitter } = require('node:events');
const { performance } = require('node:perf_hooks');
const { ChoriError, codes } = require('../../errors');
const { artifactInput } = require('../../metadata');
const { ServerError, serverCodes, overloaded } = require('./errors');
const { encodePng } = require('../png');

// libtorch's first runs of a model are slow (profiling, allocation): a new version classifies
// this image twice before it takes traffic, so clients never pay for it.
const WARMUP_RUNS = 2;
let warmupImage;
async function warmUp(model) {
  warmupImage ??= encodePng(64, 64);
  try {
    for (let i = 0; i < WARMUP_RUNS; i += 1) await model.predict(warmupImage, { topk: 1 });
  } catch (err) {
    if (err.code !== codes.IMAGE_TOO_LARGE) throw err; // a --max-pixels under 64 × 64: no warm-up
  }
}

function sha256(file) {
  return new Promise((resolve) => {
    const hash = crypto.createHash('sha256');
    fs.createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', () => resolve(null)); // replaced again since it was loaded: the version is still right
  });
}

/** What identifies a version of a file: inode, size, modification time (null when missing). */
function fileStamp(file) {
  return fs.promises.stat(file).then((st) => `${st.ino}:${st.size}:${st.mtimeMs}`, () => null);
}

class ModelRegistry extends EventEmitter {
  #slots = new Map();
  #load;
  #loadOptions;
  #maxQueue;
  #vet;
  #closed = false;
  #watchTimer;

  /**
   * models: [{ name, path }] (the first is the default); load: chori.load; vet: optional
   * async (entry, previous) called before a reload replaces a serving version: a rejection
   * refuses the swap with its error.
   */
  constructor({ models, load, loadOptions, maxQueue, vet }) {
    super();
    this.#load = load;
    this.#vet = vet;
    this.#loadOptions = loadOptions;
    this.#maxQueue = maxQueue;
    for (const { name, path } of models) {
      this.#slots.set(name, { name, path, current: null, failed: null, inFlight: 0, nextVersion: 1, reloading: Promise.resolve(), checking: false, failedStamp: null });
    }
  }

  get names() {
    return [...this.#slots.keys()];
  }

  get defaultName() {
    return this.names[0];
  }

  /**
   * True once every model has a loaded version or failed to load at start (and until close()):
   * loadAll() only lets failures through with allowPartial, and never when nothing loaded.
   */
  get ready() {
    return !this.#closed && [...this.#slots.values()].every((s) => s.current || s.failed);
  }

  /** The names of the models with a version serving now. */
  get loadedNames() {
    return this.names.filter((name) => this.#slots.get(name).current);
  }

  /** Throws CHORI_MODEL_NOT_FOUND unless a model is called `name`. */
  assertKnown(name) {
    this.#slot(name);
  }

  /**
   * Loads every model, one after the other. Stops before the next model once `signal` aborts,
   * throwing its reason. A model that fails throws, naming it, unless `allowPartial`: then it is
   * recorded (failed(), 'load-failed') and the others load; throws still when none loaded.
   */
  async loadAll({ allowPartial = false, signal } = {}) {
    for (const slot of this.#slots.values()) {
      signal?.throwIfAborted();
      try {
        await this.reload(slot.name);
      } catch (err) {
        // Stopping makes loads fail too; that is not the model's fault.
        signal?.throwIfAborted();
        const failure = await this.#recordFailure(slot, err);
        if (!allowPartial) throw failure;
      }
    }
    if (this.loadedNames.length === 0) {
      const reasons = this.failed().map((f) => `"${f.name}" (${f.error.code}: ${f.error.message})`);
      throw new ChoriError(this.failed()[0].error.code, `no model could be loaded: ${reasons.join('; ')}`);
    }
  }

  /** The models that failed to load at start and have not loaded since: [{ name, error: { code, message } }]. */
  failed() {
    return [...this.#slots.values()].filter((s) => s.failed).map((s) => ({ name: s.name, error: { ...s.failed } }));
  }

  async #recordFailure(slot, err) {
    const code = typeof err?.code === 'string' ? err.code : codes.INTERNAL;
    slot.failed = { code, message: err?.message ?? String(err) };
    // --watch tries it again once the file changes (or appears).
    slot.failedStamp = await fileStamp(slot.path);
    this.emit('load-failed', slot.name, err);
    const where = slot.failed.message.includes(slot.path) ? '' : ` (${slot.path})`;
    const failure = new ChoriError(code, `model "${slot.name}"${where} failed to load: ${slot.failed.message}`);
    failure.cause = err;
    return failure;
  }

  /**
   * Reserves `count` in-flight images on the current version of `name`. Returns
   * { model, name, version, release() }; release() is idempotent.
   */
  acquire(name, count) {
    const slot = this.#slot(name);
    const entry = slot.current;
    if (slot.failed && !entry) {
      // CHORI_NOT_READY like a model still loading: a reload (or --watch, once the file changes) can fix it.
      throw new ServerError(serverCodes.NOT_READY, `model "${name}" is not served: it failed to load at start (${slot.failed.code}: ${slot.failed.message}); fix the file and reload it`);
    }
    if (!entry || this.#closed) throw new ServerError(serverCodes.NOT_READY, `model "${name}" is not loaded yet`);
    if (slot.inFlight + count > this.#maxQueue) {
      throw overloaded(`model "${name}" has ${slot.inFlight} images in flight; the limit is ${this.#maxQueue}`);
    }
    slot.inFlight += count;
    entry.leases += 1;
    let released = false;
    return {
      model: entry.model,
      name,
      version: entry.version,
      release: () => {
        if (released) return;
        released = true;
        slot.inFlight -= count;
        entry.leases -= 1;
        if (entry.retired && entry.leases === 0) this.#dispose(entry);
      },
    };
  }

  /** Loads the model's file again and swaps it in; the old version serves until then. */
  reload(name) {
    const slot = this.#slot(name);
    const next = slot.reloading.catch(() => {}).then(() => this.#swap(slot));
    slot.reloading = next;
    return next.then((entry) => this.#info(entry));
  }

  /**
   * Reloads a model whenever its file differs from the one loaded (inode, size, mtime: polled,
   * so editors, copies and atomic renames are all seen). A file that fails to load is not tried
   * again until it changes.
   */
  watch(intervalMs) {
    this.#watchTimer ??= setInterval(() => {
      for (const slot of this.#slots.values()) this.#checkFile(slot);
    }, intervalMs).unref();
  }

  async #checkFile(slot) {
    if (slot.checking || !(slot.current || slot.failed)) return;
    slot.checking = true;
    try {
      const stamp = await fileStamp(slot.path);
      if (!stamp || stamp === slot.current?.stamp || stamp === slot.failedStamp) return;
      await this.reload(slot.name).catch((err) => {
        slot.failedStamp = stamp;
        this.emit('reload-failed', slot.name, err);
      });
    } finally {
      slot.checking = false;
    }
  }

  /** The version of `name` serving now ({ model, version, … }), or null; for reading, not predicting (acquire()). */
  current(name) {
    return this.#slot(name).current;
  }

  /** In-flight images per model: [{ name, inFlight }]. */
  queueDepths() {
    return [...this.#slots.values()].map((s) => ({ name: s.name, inFlight: s.inFlight }));
  }

  /** What GET /models shows. */
  describe() {
    return [...this.#slots.values()].filter((s) => s.current).map((s) => this.#info(s.current));
  }

  /** Stops watching, lets reloads settle, and disposes every version once its requests finish. */
  async close() {
    this.#closed = true;
    clearInterval(this.#watchTimer);
    await Promise.all([...this.#slots.values()].map((s) => s.reloading.catch(() => {})));
    for (const slot of this.#slots.values()) {
      if (slot.current) this.#retire(slot.current);
      slot.current = null;
    }
  }

  #slot(name) {
    const slot = this.#slots.get(name);
    if (!slot) {
      throw new ServerError(serverCodes.MODEL_NOT_FOUND, `no model named "${name}"; this server has ${this.names.map((n) => `"${n}"`).join(', ')}`);
    }
    return slot;
  }

  async #swap(slot) {
    if (this.#closed) throw new ServerError(serverCodes.NOT_READY, 'the server is shutting down');
    const started = performance.now();
    // Stamped before loading: a file replaced while it loads is seen as changed.
    const stamp = await fileStamp(slot.path);
    const model = await this.#load(slot.path, this.#loadOptions);
    try {
      await warmUp(model);
    } catch (err) {
      this.#dispose({ model });
      throw err;
    }
    const entry = {
      name: slot.name,
      version: slot.nextVersion,
      model,
      stamp,
      sha256: await sha256(slot.path),
      loadedAt: new Date().toISOString(),
      loadMs: performance.now() - started,
      leases: 0,
      retired: false,
    };
    if (slot.current && this.#vet) {
      try {
        await this.#vet(entry, slot.current);
      } catch (err) {
        this.#dispose(entry);
        throw err;
      }
    }
    if (this.#closed) {
      this.#dispose(entry);
      throw new ServerError(serverCodes.NOT_READY, 'the server is shutting down');
    }
    slot.nextVersion += 1;
    const previous = slot.current;
    slot.current = entry;
    slot.failed = null;
    if (previous) this.#retire(previous);
    this.emit('loaded', entry, previous ?? undefined);
    return entry;
  }

  #retire(entry) {
    entry.retired = true;
    if (entry.leases === 0) this.#dispose(entry);
  }

  #dispose(entry) {
    entry.model.dispose().catch(() => {});
  }

  #info(entry) {
    const { metadata } = entry.model;
    return {
      name: entry.name,
      version: entry.version,
      default: entry.name === this.defaultName,
      sha256: entry.sha256,
      loaded_at: entry.loadedAt,
      load_ms: round(entry.loadMs),
      labels: [...metadata.labels],
      input: artifactInput(metadata.input),
      output: { kind: metadata.output.kind, num_classes: metadata.output.numClasses },
      provenance: { ...metadata.provenance },
      optimize: entry.model.info.optimize,
      workers: entry.model.info.workers,
    };
  }
}

const round = (ms) => Math.round(ms * 1000) / 1000;

module.exports = { ModelRegistry, round };
