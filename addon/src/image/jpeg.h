// JPEG → RgbImage with libjpeg-turbo, matching PIL's Image.open(f).convert("RGB").
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/limits.h"
#include "image/image.h"

namespace chori::image {

// `data` must start with the JPEG SOI marker (decode() sniffs it). Greyscale is
// replicated to RGB; 4-component (CMYK/YCCK) JPEGs are read with Adobe's inverted
// polarity and converted with PIL's cmyk2rgb, as PIL does. Throws chori::Error with
// CHORI_TRUNCATED, CHORI_DECODE, CHORI_UNSUPPORTED_FORMAT or CHORI_IMAGE_TOO_LARGE.
RgbImage decodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options);

}  // namespace chori::image
