// Bytes → RgbImage, with the format sniffed from the magic bytes (never a file name).
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/image.h"

namespace chori::image {

// PIL raises DecompressionBombError above 2 × Image.MAX_IMAGE_PIXELS (89,478,485) and only
// warns between 1× and 2×; we reject exactly where PIL rejects.
inline constexpr uint64_t kDefaultMaxPixels = 2ull * 89478485ull;

struct DecodeOptions {
  uint64_t maxPixels = kDefaultMaxPixels;
  // Turn the image upright by its EXIF orientation tag (JPEG APP1, PNG eXIf, WebP EXIF), as
  // ImageOps.exif_transpose does; off by default because Image.open ignores the tag.
  bool applyExifOrientation = false;
};

// Throws chori::Error with CHORI_EMPTY_INPUT, CHORI_UNSUPPORTED_FORMAT, CHORI_TRUNCATED,
// CHORI_DECODE or CHORI_IMAGE_TOO_LARGE (checked from the header, before pixels are allocated).
RgbImage decode(const uint8_t* data, size_t size, const DecodeOptions& options);

}  // namespace chori::image
