// Private to the decoders: the size guard every format applies to its header before it
// allocates a single pixel.
#pragma once

#include <cstdint>

#include "image/decode.h"

namespace chori::image::detail {

// Largest width or height we accept from any header: keeps every index and offset in
// range of an int and a size_t, whatever maxPixels the caller allows.
inline constexpr uint64_t kMaxDimension = 1u << 24;

// Throws CHORI_DECODE for a zero dimension and CHORI_IMAGE_TOO_LARGE when the header
// announces more pixels than options.maxPixels (PIL: DecompressionBombError) or a side
// longer than kMaxDimension. `format` names the format in the message ("JPEG", "PNG").
void checkImageSize(uint64_t width, uint64_t height, const DecodeOptions& options,
                    const char* format);

}  // namespace chori::image::detail
