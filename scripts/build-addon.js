#!/usr/bin/env node
'use strict';
// Builds addon/ with node-gyp without downloading anything: Node's headers come from the
// running Node's install prefix (--nodedir), libtorch from scripts/find-libtorch.js. Prints
// what it chose, so a failed build explains itself.

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { findLibtorch } = require('./find-libtorch');

const root = path.resolve(__dirname, '..');

function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')].filter(Boolean);
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  throw new Error(
    `Node headers not found (looked for include/node/node_api.h under ${candidates.join(', ')}); ` +
      'install a Node that ships its headers, or set npm_config_nodedir',
  );
}

// node-gyp 13 does not run on Node 20, so use the one npm bundles with this Node.
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
  if (!found) throw new Error(`node-gyp not found (tried ${candidates.join(', ') || 'nothing'}); is npm installed?`);
  return found;
}

function main() {
  const libtorch = findLibtorch();
  const nodedir = findNodeDir();
  const nodeGyp = findNodeGyp();
  console.log(`chori-torch addon: Node ${process.version} headers from ${nodedir}`);
  console.log(`chori-torch addon: libtorch from ${libtorch.dir} (${libtorch.source})`);
  console.log(`chori-torch addon: node-gyp ${nodeGyp}`);
  const configured = fs.existsSync(path.join(root, 'addon', 'build', 'Makefile'));
  const args = [nodeGyp, configured ? 'build' : 'rebuild', `--nodedir=${nodedir}`, '--jobs=max', '--loglevel=warn', '--directory', 'addon'];
  const result = spawnSync(process.execPath, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, LIBTORCH: libtorch.dir },
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

try {
  main();
} catch (err) {
  console.error(`chori-torch addon: ${err.message}`);
  process.exit(1);
}
