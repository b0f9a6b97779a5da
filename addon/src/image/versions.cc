#include "image/versions.h"

#include <cstdio>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>
#include <avif/avif.h>
#include <png.h>
#include <tiffio.h>
#include <webp/decode.h>
#include <webp/demux.h>

namespace chori::image {

namespace {

// libwebp packs its version as 0xMMmmrr.
std::string unpack(int v) {
  return std::to_string((v >> 16) & 0xff) + "." + std::to_string((v >> 8) & 0xff) + "." + std::to_string(v & 0xff);
}

// TIFFGetVersion() is "LIBTIFF, Version 4.5.0\nCopyright ...": the number after "Version ".
std::string tiffVersion() {
  const std::string text = TIFFGetVersion();
  const size_t at = text.find("Version ");
  if (at == std::string::npos) return text.substr(0, text.find('\n'));
  const size_t start = at + 8;
  return text.substr(start, text.find_first_of(" \n", start) - start);
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
  v.libtiff = tiffVersion();
  return v;
}

}  // namespace chori::image
