'use strict';
// Shared fixtures for the node:test suites: the demo artifact and example images that
// `make demo` / `make test` write to export/ before the tests run.

const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const root = path.resolve(__dirname, '..', '..');
const modelPath = path.join(root, 'export', 'model.pt');
const imagesDir = path.join(root, 'export', 'images');

function exampleImages() {
  if (!fs.existsSync(modelPath) || !fs.existsSync(imagesDir)) {
    throw new Error(`the demo artifact is missing (${modelPath}); run \`make test\`, which exports it first`);
  }
  return fs.readdirSync(imagesDir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort().map((f) => path.join(imagesDir, f));
}

function firstImage(ext) {
  return exampleImages().find((f) => f.toLowerCase().endsWith(ext));
}

function tempFile(name, bytes) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chori-test-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

module.exports = { root, modelPath, imagesDir, exampleImages, firstImage, tempFile };
