// GIF → RgbImage, matching PIL's Image.open(f).convert("RGB").
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/limits.h"
#include "image/image.h"

namespace chori::image {

// `data` must start with the GIF87a/GIF89a signature. The first frame only, on the logical screen: palette looked up (local, else global; past its end: black), no palette or an identity grey one read as grey, transparency dropped (its index fills the screen outside the frame). Throws chori::Error with CHORI_TRUNCATED, CHORI_DECODE,
// CHORI_UNSUPPORTED_FORMAT or CHORI_IMAGE_TOO_LARGE.
RgbImage decodeGif(const uint8_t* data, size_t size, const DecodeOptions& options);

}  // namespace chori::image
