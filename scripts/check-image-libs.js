'use strict';
// Checks, before node-gyp runs, that the C++ compiler finds the image libraries the addon links
// (headers and libraries): one small program is compiled and linked against all of them, and
// when that fails each library is tried alone, so the message names what is missing.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const LIBRARIES = [
  { name: 'libjpeg-turbo', headers: ['jpeglib.h'], flags: ['-ljpeg'], use: '{ jpeg_error_mgr jerr; jpeg_std_error(&jerr); }' },
  { name: 'libpng', headers: ['png.h'], flags: ['-lpng'], use: 'png_access_version_number();' },
  {
    name: 'libwebp',
    headers: ['webp/decode.h', 'webp/demux.h'],
    flags: ['-lwebpdemux', '-lwebp'],
    use: 'WebPGetDecoderVersion(); WebPGetDemuxVersion();',
  },
  { name: 'libavif', headers: ['avif/avif.h'], flags: ['-lavif'], use: 'avifVersion();' },
  { name: 'libtiff', headers: ['tiffio.h'], flags: ['-ltiff'], use: 'TIFFGetVersion();' },
  { name: 'libdeflate', headers: ['libdeflate.h'], flags: ['-ldeflate'], use: 'libdeflate_free_decompressor(libdeflate_alloc_decompressor());' },
  // Header-only: the artifact's chori.json is read natively when a model loads (addon/src/model/metadata.cc).
  { name: 'nlohmann-json', headers: ['nlohmann/json.hpp'], flags: [], use: '(void)nlohmann::json::parse("{}");' },
];

const INSTALL_HINT =
  'Debian/Ubuntu: `sudo apt-get install libjpeg-dev libpng-dev libwebp-dev libavif-dev libtiff-dev libdeflate-dev nlohmann-json3-dev`; ' +
  'Fedora/RHEL: `sudo dnf install libjpeg-turbo-devel libpng-devel libwebp-devel libavif-devel libtiff-devel libdeflate-devel json-devel`; ' +
  'macOS: `brew install jpeg-turbo libpng webp libavif libtiff libdeflate nlohmann-json`';

function program(libs) {
  const includes = libs.flatMap((l) => l.headers).map((h) => `#include <${h}>`);
  return ['#include <cstdio>', ...includes, 'int main() {', ...libs.map((l) => `  ${l.use}`), '  return 0;', '}', ''].join('\n');
}

function compile(cxx, libs, dir) {
  const source = path.join(dir, 'probe.cc');
  fs.writeFileSync(source, program(libs));
  // CXX may carry flags ("g++-12 -m64"), as make reads it.
  const [command, ...flags] = cxx.trim().split(/\s+/);
  const r = spawnSync(command, [...flags, source, '-o', path.join(dir, 'probe'), ...libs.flatMap((l) => l.flags)], { encoding: 'utf8' });
  if (r.error) return { compilerMissing: true, output: r.error.message };
  return { ok: r.status === 0, output: r.stderr };
}

/**
 * { ok: true } when every library compiles and links; otherwise { ok: false, missing: [names],
 * compilerMissing, cxx } so the caller can say what to install.
 */
function checkImageLibs(env = process.env) {
  const cxx = env.CXX || 'c++';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chori-libcheck-'));
  try {
    const all = compile(cxx, LIBRARIES, dir);
    if (all.compilerMissing) return { ok: false, compilerMissing: true, cxx, missing: [] };
    if (all.ok) return { ok: true, cxx, missing: [] };
    const missing = LIBRARIES.filter((lib) => !compile(cxx, [lib], dir).ok).map((lib) => `${lib.name} (${lib.headers.join(', ')})`);
    const unknown = `an image library (the compiler said: ${all.output.trim().split('\n')[0]})`;
    return { ok: false, cxx, missing: missing.length ? missing : [unknown] };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { checkImageLibs, INSTALL_HINT, LIBRARIES };
