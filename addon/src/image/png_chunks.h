// The chunk-level rules of PIL's PngImagePlugin that libpng does not apply: the limits on
// text chunks and the chunks read after the image data. A walk over the chunk headers of the
// whole file, independent of the pixel decoding in png.cc.
#pragma once

#include <cstddef>
#include <cstdint>

namespace chori::image::detail {

// A big-endian 32-bit field: chunk lengths and every number in PNG's chunks.
inline uint32_t readU32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

// Throws chori::Error where PIL's open() + load() raise on the chunks themselves:
// - zTXt with a compression method other than 0 (SyntaxError);
// - zTXt or compressed iTXt whose text inflates to more than MAX_TEXT_CHUNK (1 MiB), or text
//   chunks whose decoded values add up to more than MAX_TEXT_MEMORY (64 MiB) (ValueError: PIL
//   refuses rather than risk a decompression bomb) — CHORI_DECODE;
// - a chunk after the image data whose data the file cuts short (load_end's _safe_read:
//   "Truncated File Read") — CHORI_TRUNCATED.
// Before the image data, a cut chunk is libpng's to report (its own truncation error).
void checkPngChunks(const uint8_t* data, size_t size);

}  // namespace chori::image::detail
