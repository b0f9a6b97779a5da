#include "image/versions.h"

#include <cstdio>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>
#include <avif/avif.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/demux.h>

namespace chori::image {

namespace {

// libwebp packs its version as 0xMMmmrr.
std::string unpack(int v) {
  return std::to_string((v >> 16) & 0xff) + "." + std::to_string((v >> 8) & 0xff) + "." + std::to_string(v & 0xff);
}

}  // namespace

// libjpeg-turbo has no run-time version call (its JVERSION message is the libjpeg ABI, "6b"), so
// this is the version of the headers compiled against: LIBJPEG_TURBO_VERSION_NUMBER is MMMmmmppp.
std::string libjpegTurboVersion() {
#ifdef LIBJPEG_TURBO_VERSION_NUMBER
  constexpr int v = LIBJPEG_TURBO_VERSION_NUMBER;
  return std::to_string(v / 1000000) + "." + std::to_string(v / 1000 % 1000) + "." + std::to_string(v % 1000);
#else
  return "not libjpeg-turbo";
#endif
}

LibraryVersions libraryVersions() {
  LibraryVersions v;
  v.libjpegTurbo = libjpegTurboVersion();
  v.jpegAbi = JPEG_LIB_VERSION;
  v.libpng = png_get_libpng_ver(nullptr);
  v.libwebp = unpack(WebPGetDecoderVersion());
  v.libwebpdemux = unpack(WebPGetDemuxVersion());
  v.libavif = avifVersion();
  return v;
}

}  // namespace chori::image
