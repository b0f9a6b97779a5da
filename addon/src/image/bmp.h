// BMP → RgbImage, matching PIL's Image.open(f).convert("RGB").
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/limits.h"
#include "image/image.h"

namespace chori::image {

// `data` must start with "BM" and a known DIB header size. 1/4/8-bit palettes, 16/24/32-bit,
// bottom-up or top-down, the BITFIELDS layouts PIL reads, RLE4/RLE8 (BmpRleDecoder's rules);
// alpha dropped. Throws chori::Error with CHORI_TRUNCATED, CHORI_DECODE,
// CHORI_UNSUPPORTED_FORMAT or CHORI_IMAGE_TOO_LARGE.
RgbImage decodeBmp(const uint8_t* data, size_t size, const DecodeOptions& options);

}  // namespace chori::image
