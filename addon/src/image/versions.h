// The versions of the image libraries the addon runs with, for `versions` and `doctor`.
#pragma once

#include <string>

namespace chori::image {

struct LibraryVersions {
  std::string libjpegTurbo;  // the headers' LIBJPEG_TURBO_VERSION (libjpeg has no run-time version call)
  int jpegAbi = 0;           // JPEG_LIB_VERSION the headers declare: 62, 70 or 80
  std::string libpng;        // png_get_libpng_ver(): the linked library
  std::string libwebp;       // WebPGetDecoderVersion(): the linked library
  std::string libwebpdemux;  // WebPGetDemuxVersion()
  std::string libavif;       // avifVersion(): the linked library
  std::string libtiff;       // from TIFFGetVersion(): the linked library
};

// The libjpeg-turbo headers compiled against ("2.1.5"), for messages that depend on it.
std::string libjpegTurboVersion();

// libpng and libwebp are asked at run time, so a system upgrade shows; libjpeg-turbo cannot be.
LibraryVersions libraryVersions();

}  // namespace chori::image
