// ICO → RgbImage, matching PIL's IcoImagePlugin and convert("RGB").
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/image.h"
#include "image/limits.h"

namespace chori::image {

// `data` must start with 00 00 01 00. The entry PIL picks (the largest, then the lowest colour
// depth), a PNG or a DIB inside (its AND mask or alpha read as PIL reads them, then dropped by
// convert("RGB")). Throws chori::Error with CHORI_TRUNCATED, CHORI_DECODE or CHORI_IMAGE_TOO_LARGE.
RgbImage decodeIco(const uint8_t* data, size_t size, const DecodeOptions& options);

}  // namespace chori::image
