// The image data of a small, clean, non-interlaced 8-bit PNG in one go: libdeflate inflates
// the whole zlib stream at once and the rows are unfiltered and converted to RGB here, instead
// of libpng's row-at-a-time inflate and scalar filters. Anything else goes to libpng (png.cc).
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/image.h"

namespace chori::image::detail {

// The most inflated bytes (filter bytes included) the whole-stream path holds beside the
// image: larger images keep libpng's row-at-a-time memory bound (docs/ARCHITECTURE.md,
// "Decoding memory").
inline constexpr size_t kWholeStreamMaxBytes = size_t{4} << 20;

// Decodes the rows of `image` (already sized) from the IDAT chunks that start at `idat` (the
// first one's length field), for libpng's colour type `colorType` at bit depth 8; `palette`
// holds 256 RGB entries (unused ones black). Returns true only when the result is certainly
// what libpng gives: IDAT chunks that lie whole in the file, one zlib stream that ends inside
// them with a valid Adler-32 and inflates to exactly the image's filtered rows, and filter
// types 0–4. Otherwise returns false, and `image` is to be decoded again by libpng, whose
// errors and tolerances (PIL's) then apply.
bool readWholeStreamRows(const uint8_t* data, size_t size, size_t idat, int colorType,
                         const uint8_t* palette, RgbImage& image);

}  // namespace chori::image::detail
