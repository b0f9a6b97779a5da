'use strict';
// --model-dir: the models of a directory, as KServe mounts them at /mnt/models. Every artifact
// (.pt TorchScript, .pt2 package) directly in DIR, named by its file name without extension;
// model.pt first, so it answers /predict, the others in name order. Other files (golden sets,
// READMEs, KServe's own bookkeeping) are not models and are left alone.

const fs = require('node:fs');
const path = require('node:path');
const validate = require('../validate');

const ARTIFACT_EXTENSIONS = new Set(['.pt', '.pt2']);
const FIRST = 'model.pt';

/** `[PATH, …]` of the artifacts in `dir`; `name` is the parameter as the caller wrote it. */
function artifactsIn(dir, name) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw validate.invalidParameterError(name, `a readable directory of models (${err.code ?? err.message})`, dir);
  }
  const files = entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && ARTIFACT_EXTENSIONS.has(path.extname(e.name)))
    .map((e) => e.name)
    .sort((a, b) => (b === FIRST) - (a === FIRST) || a.localeCompare(b, 'en'));
  if (files.length === 0) {
    throw validate.invalidParameterError(name, `a directory holding at least one model artifact (${[...ARTIFACT_EXTENSIONS].join(', ')})`, dir);
  }
  return files.map((f) => path.join(dir, f));
}

module.exports = { artifactsIn };
