// WebP → RgbImage, matching PIL's Image.open(f).convert("RGB").
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/limits.h"
#include "image/image.h"

namespace chori::image {

// `data` must start with RIFF....WEBP. libwebp, first frame, alpha dropped. Throws chori::Error with CHORI_TRUNCATED, CHORI_DECODE,
// CHORI_UNSUPPORTED_FORMAT or CHORI_IMAGE_TOO_LARGE.
RgbImage decodeWebp(const uint8_t* data, size_t size, const DecodeOptions& options);

}  // namespace chori::image
