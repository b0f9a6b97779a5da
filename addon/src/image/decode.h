// Bytes → RgbImage, with the format sniffed from the magic bytes (never a file name).
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/image.h"
#include "image/limits.h"

namespace chori::image {

// Throws chori::Error with CHORI_EMPTY_INPUT, CHORI_UNSUPPORTED_FORMAT, CHORI_TRUNCATED,
// CHORI_DECODE or CHORI_IMAGE_TOO_LARGE (checked from the header, before pixels are allocated).
RgbImage decode(const uint8_t* data, size_t size, const DecodeOptions& options);

}  // namespace chori::image
