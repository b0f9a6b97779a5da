// TIFF → RgbImage with libtiff, matching PIL's TiffImagePlugin and convert("RGB").
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/image.h"
#include "image/limits.h"

namespace chori::image {

// `data` must start with a TIFF or BigTIFF header. The first page; strips or tiles; no
// compression, LZW, Deflate, PackBits, CCITT or JPEG (libtiff decompresses, as Pillow has it
// do; JPEG YCbCr converted to RGB by libjpeg, as Pillow asks); PIL's modes for bilevel,
// 2/4/8-bit grey (either photometric), 16-bit grey (I;16, clipped), palette, 8/16-bit RGB and
// RGBA (alpha dropped; 8-bit associated alpha un-premultiplied first, as PIL does), CMYK;
// 8-bit separate planes in strips. The rest PIL opens (old-style JPEG, YCbCr without JPEG,
// tiled or 16-bit planes, 16-bit associated alpha, float, signed, 32-bit) is refused with CHORI_UNSUPPORTED_FORMAT naming what. Throws chori::Error with CHORI_TRUNCATED,
// CHORI_DECODE, CHORI_UNSUPPORTED_FORMAT or CHORI_IMAGE_TOO_LARGE.
RgbImage decodeTiff(const uint8_t* data, size_t size, const DecodeOptions& options);

}  // namespace chori::image
