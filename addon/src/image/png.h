// PNG → RgbImage with libpng, matching PIL's Image.open(f).convert("RGB").
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/limits.h"
#include "image/image.h"

namespace chori::image {

// `data` must start with the PNG signature (decode() sniffs it). Every colour type and
// bit depth; alpha and tRNS are dropped (not composited), palettes looked up, 16-bit
// colour keeps the high byte and 16-bit grey is clipped to 255, as PIL does. Throws
// chori::Error with CHORI_TRUNCATED, CHORI_DECODE or CHORI_IMAGE_TOO_LARGE.
RgbImage decodePng(const uint8_t* data, size_t size, const DecodeOptions& options);

}  // namespace chori::image
