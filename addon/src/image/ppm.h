// PBM / PGM / PPM (Netpbm) → RgbImage, matching PIL's PpmImagePlugin and convert("RGB").
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/image.h"
#include "image/limits.h"

namespace chori::image {

// `data` must start with "P" and one of 0123456fy (PIL's _accept). P1-P6 at every maxval, and
// Pillow's own P0CMYK / PyRGBA / PyCMYK; the float (Pf) and palette (PyP) variants are refused
// with CHORI_UNSUPPORTED_FORMAT. Throws chori::Error with CHORI_TRUNCATED, CHORI_DECODE,
// CHORI_UNSUPPORTED_FORMAT or CHORI_IMAGE_TOO_LARGE.
RgbImage decodePpm(const uint8_t* data, size_t size, const DecodeOptions& options);

}  // namespace chori::image
