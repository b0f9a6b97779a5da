#!/usr/bin/env node
'use strict';
// Builds addon/ with node-gyp without downloading anything: Node's headers come from the
// running Node's install prefix (--nodedir), node-gyp from the npm that runs it, libtorch from
// scripts/find-libtorch.js. Prints what it chose and what it rejected, so a failed build explains
// itself; when libtorch or the image libraries are missing it fails before compiling anything,
// with one paragraph that says what to install or set.
//
//   node scripts/build-addon.js            build (what `npm run build` and `npx chori-torch build` run)
//   node scripts/build-addon.js --install  the package's npm `install` script: the same, except
//                                          that in a development checkout (a .git beside
//                                          package.json) it leaves the build to `make setup`

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { findLibtorch } = require('./find-libtorch');
const { checkImageLibs, INSTALL_HINT, LIBRARIES } = require('./check-image-libs');

const root = path.resolve(__dirname, '..');
const buildDir = path.join(root, 'addon', 'build');
// What the last successful build used; a different libtorch or Node means reconfiguring.
const STAMP = path.join(buildDir, 'chori-build.json');
const REBUILD_HINT = 'then run `npm rebuild chori-torch` (or `npx chori-torch build`)';
const TORCH_PIN = '2.14.1';

const log = (line) => console.log(`chori-torch addon: ${line}`);

class BuildError extends Error {}

function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')].filter(Boolean);
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h')));
  if (found) return found;
  throw new BuildError(
    `cannot build the native addon: Node's headers were not found (looked for include/node/node_api.h under ${candidates.join(', ')}). ` +
      `Install a Node that ships its headers (the official builds and Debian's nodejs do), or set npm_config_nodedir to a directory that has them; ${REBUILD_HINT}.`,
  );
}

// node-gyp 13 does not run on Node 20, so use the one npm bundles with this Node: npm names it
// while it runs an install script (npm_config_node_gyp); otherwise look beside npm itself.
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    candidates.push(path.resolve(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  try {
    const globalRoot = execFileSync('npm', ['root', '-g'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    candidates.push(path.join(globalRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  } catch {
    // npm missing from PATH: the other candidates may still hold.
  }
  const found = candidates.find((c) => c.endsWith('.js') && fs.existsSync(c));
  if (found) return found;
  throw new BuildError(
    `cannot build the native addon: node-gyp was not found (tried ${candidates.join(', ') || 'nothing'}). ` +
      `It comes with npm: install Node with its npm, ${REBUILD_HINT}.`,
  );
}

function resolveLibtorch() {
  try {
    const found = findLibtorch();
    for (const t of found.tried) log(`libtorch: rejected ${t}`);
    return found;
  } catch (err) {
    const tried = (err.tried ?? []).join('; ');
    throw new BuildError(
      `cannot build the native addon: ${err.message}. chori-torch links the libtorch inside PyTorch's \`torch\` Python package, ` +
        `so install torch ${TORCH_PIN} in a Python environment (\`python3 -m venv .venv && .venv/bin/pip install torch==${TORCH_PIN}\`) and make it reachable: ` +
        'activate that environment (VIRTUAL_ENV, or CONDA_PREFIX for conda), or set CHORI_TORCH_PYTHON=/path/to/.venv/bin/python, ' +
        `or set LIBTORCH to a libtorch directory (with include/ and lib/); ${REBUILD_HINT}. Looked at: ${tried}.`,
    );
  }
}

function checkSystemLibraries() {
  const libs = checkImageLibs();
  if (libs.ok) return log(`image libraries: ${LIBRARIES.map((l) => l.name).join(', ')} found by ${libs.cxx}`);
  if (libs.compilerMissing) {
    throw new BuildError(
      `cannot build the native addon: no C++ compiler (${libs.cxx}) was found. Install one with C++20 support and make ` +
        `(Debian/Ubuntu: \`sudo apt-get install g++ make\`), or set CXX; ${REBUILD_HINT}.`,
    );
  }
  throw new BuildError(
    `cannot build the native addon: the C++ compiler (${libs.cxx}) cannot find the development files of ${libs.missing.join(' and ')}. ` +
      `Install them (${INSTALL_HINT}), ${REBUILD_HINT}.`,
  );
}

function readStamp() {
  try {
    return JSON.parse(fs.readFileSync(STAMP, 'utf8'));
  } catch {
    return null;
  }
}

/** sources.json or binding.gyp is newer than the Makefile node-gyp generated from them. */
function sourcesChanged() {
  const generated = fs.statSync(path.join(buildDir, 'Makefile')).mtimeMs;
  return ['sources.json', 'binding.gyp'].some((f) => fs.statSync(path.join(root, 'addon', f)).mtimeMs > generated);
}

function build({ install }) {
  const started = Date.now();
  const libtorch = resolveLibtorch();
  checkSystemLibraries();
  const nodedir = findNodeDir();
  const nodeGyp = findNodeGyp();
  log(`Node ${process.version} headers from ${nodedir}`);
  log(`libtorch${libtorch.version ? ` ${libtorch.version}` : ''} from ${libtorch.dir} (${libtorch.source})`);
  log(`node-gyp ${nodeGyp}`);
  const stamp = readStamp();
  const same = stamp && stamp.libtorch === libtorch.dir && stamp.nodedir === nodedir && stamp.node === process.version;
  const configured = same && fs.existsSync(path.join(buildDir, 'Makefile'));
  if (!configured) fs.rmSync(STAMP, { force: true });
  log(configured ? 'compiling what changed…' : 'compiling (about a minute on 2 cores)…');
  const gyp = (command) =>
    spawnSync(process.execPath, [nodeGyp, command, `--nodedir=${nodedir}`, '--jobs=max', '--loglevel=warn', '--directory', 'addon'], {
      cwd: root,
      // An install's build output would only bury the one line that matters; errors still show.
      stdio: install ? ['ignore', 'ignore', 'inherit'] : 'inherit',
      env: { ...process.env, LIBTORCH: libtorch.dir },
    });
  // binding.gyp reads its source list from addon/sources.json when it is configured, and the
  // Makefile it generates lists the sources: a file added or removed needs a fresh configuration,
  // which `build` alone skips (the objects already built are kept).
  let result = configured && sourcesChanged() ? gyp('configure') : { status: 0 };
  if (result.status === 0) result = gyp(configured ? 'build' : 'rebuild');
  if (result.status !== 0) {
    // Leave nothing that looks like a usable addon behind.
    if (install) fs.rmSync(buildDir, { recursive: true, force: true });
    throw new BuildError(
      `the native addon failed to compile (node-gyp exit status ${result.status ?? result.signal}); the compiler's messages are above. ` +
        `Check that the C++ compiler supports C++20 (g++ 10 or later) and that libtorch is complete; ${REBUILD_HINT}.`,
    );
  }
  const stampData = { libtorch: libtorch.dir, libtorchVersion: libtorch.version, source: libtorch.source, nodedir, node: process.version };
  fs.writeFileSync(STAMP, `${JSON.stringify(stampData, null, 2)}\n`);
  log(`built addon/build/Release/chori_torch.node in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

function main() {
  const install = process.argv.includes('--install');
  if (install && fs.existsSync(path.join(root, '.git'))) {
    log('development checkout: not building at install; `make setup` (or `npm run build`) builds the addon');
    return;
  }
  try {
    build({ install });
  } catch (err) {
    if (!(err instanceof BuildError)) throw err;
    console.error(`chori-torch: ${err.message}`);
    process.exit(1);
  }
}

main();
