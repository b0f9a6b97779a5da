// AVIF → RgbImage with libavif, matching PIL's AvifImagePlugin and convert("RGB").
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/image.h"
#include "image/limits.h"

namespace chori::image {

// `data` must start with an ftyp box of brand avif, avis, mif1 or msf1 (PIL's _accept). The
// first frame, converted to 8-bit RGB(A) by libavif as Pillow's _avif module asks it, alpha
// dropped. Refused with CHORI_UNSUPPORTED_FORMAT: 10- and 12-bit images (Debian's libavif 0.11
// converts them differently from Pillow's 1.4), and, with options.applyExifOrientation, images
// carrying irot/imir transforms (PIL turns those into an EXIF orientation we do not reproduce).
// Throws chori::Error with CHORI_TRUNCATED, CHORI_DECODE, CHORI_UNSUPPORTED_FORMAT or
// CHORI_IMAGE_TOO_LARGE.
RgbImage decodeAvif(const uint8_t* data, size_t size, const DecodeOptions& options);

}  // namespace chori::image
